import APICore
import APIMachinery

/// The strategic merge patch of a pod's status that sets one condition (merged by `type`) and,
/// optionally, the nominated node — how the scheduler writes PodScheduled and DisruptionTarget.
enum PodConditionPatch {
    static func body(
        type: String, status: String, reason: String, message: String, lastTransitionTime: Time,
        observedGeneration: Int64 = 0, nominatedNodeName: String? = nil
    ) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("status")
        w.beginObject()
        w.key("conditions")
        w.beginArray()
        w.beginObject()
        w.key("type")
        w.string(type)
        if observedGeneration != 0 {
            w.key("observedGeneration")
            w.int(observedGeneration)
        }
        w.key("status")
        w.string(status)
        w.key("lastProbeTime")
        w.null()
        w.key("lastTransitionTime")
        w.string(lastTransitionTime.rfc3339)
        w.key("reason")
        w.string(reason)
        w.key("message")
        w.string(message)
        w.endObject()
        w.endArray()
        if let nominatedNodeName {
            w.key("nominatedNodeName")
            w.string(nominatedNodeName)
        }
        w.endObject()
        w.endObject()
        return w.bytes
    }
}
