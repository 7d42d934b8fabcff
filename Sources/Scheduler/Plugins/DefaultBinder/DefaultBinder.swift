import APICore
import APIMachinery
import KubeClient

/// `DefaultBinder`: writes the pod's `binding` subresource.
public final class DefaultBinder: BindPlugin {
    public static let name = "DefaultBinder"
    public var name: String { Self.name }
    let client: KubeClient?

    public init(client: KubeClient?) { self.client = client }

    public func bind(_ state: CycleState, _ pod: PodInfo, node: String) async -> Status? {
        guard let client else { return .error("no client to bind with") }
        var b = CoreV1.Binding()
        b.metadata.namespace = pod.namespace
        b.metadata.name = pod.name
        b.metadata.uid = pod.uid
        b.target = CoreV1.ObjectReference(kind: "Node", name: node)
        do {
            try await client.bind(b, namespace: pod.namespace)
            return nil
        } catch {
            return .error("\(error)")
        }
    }
}
