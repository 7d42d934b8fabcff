import APIMachinery
import Foundation
import KubernetesAPI
import Testing

@testable import APIServer

/// Mirror pods (pods with `kubernetes.io/config.mirror`) as upstream's ServiceAccount admission
/// plugin restricts them at creation: no service account, no Secret reference anywhere, no
/// service account token projection; and the mirror annotation cannot be added, changed or removed
/// by an update (upstream's ValidatePodSpecificAnnotationUpdates).
@Suite("mirror pod admission")
struct MirrorPodAdmissionTests {
    static func pod(mirror: Bool, _ change: (inout CoreV1.PodSpec) -> Void = { _ in }) -> CoreV1.Pod {
        var p = CoreV1.Pod()
        p.metadata.name = "web-node1"
        if mirror { p.metadata.annotations["kubernetes.io/config.mirror"] = "abc" }
        p.spec.containers = [CoreV1.Container(name: "c", image: "busybox")]
        change(&p.spec)
        return p
    }

    static func secretEnv(_ s: inout CoreV1.PodSpec) {
        var e = CoreV1.EnvVar(name: "X")
        var src = CoreV1.EnvVarSource()
        src.secretKeyRef = CoreV1.SecretKeySelector(key: "k")
        e.valueFrom = src
        s.containers[0].env = [e]
    }

    @Test(
        "what a mirror pod may not hold, with upstream's messages",
        arguments: [
            ("service account", "a mirror pod may not reference service accounts"),
            ("pull secret", "a mirror pod may not reference secrets"),
            ("env secret", "a mirror pod may not reference secrets"),
            ("envFrom secret", "a mirror pod may not reference secrets"),
            ("secret volume", "a mirror pod may not reference secrets"),
            ("projected secret", "a mirror pod may not reference secrets"),
            ("csi secret", "a mirror pod may not reference secrets"),
            ("token projection", "a mirror pod may not use ServiceAccountToken volume projections"),
        ])
    func refused(what: String, message: String) {
        let change: (inout CoreV1.PodSpec) -> Void = { s in
            switch what {
            case "service account": s.serviceAccountName = "builder"
            case "pull secret": s.imagePullSecrets = [CoreV1.LocalObjectReference(name: "reg")]
            case "env secret": Self.secretEnv(&s)
            case "envFrom secret":
                var f = CoreV1.EnvFromSource()
                f.secretRef = CoreV1.SecretEnvSource()
                s.containers[0].envFrom = [f]
            case "secret volume":
                var v = CoreV1.Volume(name: "s")
                v.volumeSource.secret = CoreV1.SecretVolumeSource(secretName: "creds")
                s.volumes = [v]
            case "projected secret", "token projection":
                var proj = CoreV1.VolumeProjection()
                if what == "projected secret" {
                    proj.secret = CoreV1.SecretProjection()
                } else {
                    proj.serviceAccountToken = CoreV1.ServiceAccountTokenProjection(path: "token")
                }
                var v = CoreV1.Volume(name: "p")
                v.volumeSource.projected = CoreV1.ProjectedVolumeSource(sources: [proj])
                s.volumes = [v]
            case "csi secret":
                var csi = CoreV1.CSIVolumeSource(driver: "d")
                csi.nodePublishSecretRef = CoreV1.LocalObjectReference(name: "x")
                var v = CoreV1.Volume(name: "c")
                v.volumeSource.csi = csi
                s.volumes = [v]
            default: Issue.record("unknown case \(what)")
            }
        }
        #expect {
            try MirrorPodAdmission.admit(Self.pod(mirror: true, change))
        } throws: { e in
            (e as? APIError)?.code == 403
                && (e as? APIError)?.message == "pods \"web-node1\" is forbidden: \(message)"
        }
        // The same pod without the annotation is not this plugin's concern.
        #expect(throws: Never.self) { try MirrorPodAdmission.admit(Self.pod(mirror: false, change)) }
    }

    @Test("a mirror pod with config map and empty dir volumes is admitted")
    func admitted() {
        let p = Self.pod(mirror: true) { s in
            var v = CoreV1.Volume(name: "cfg")
            v.volumeSource.configMap = CoreV1.ConfigMapVolumeSource()
            var e = CoreV1.Volume(name: "tmp")
            e.volumeSource.emptyDir = CoreV1.EmptyDirVolumeSource()
            s.volumes = [v, e]
        }
        #expect(throws: Never.self) { try MirrorPodAdmission.admit(p) }
    }

    @Test(
        "the mirror annotation is fixed at creation",
        arguments: [
            (nil, "abc", "may not add mirror pod annotation"),
            ("abc", nil, "may not remove or update mirror pod annotation"),
            ("abc", "def", "may not remove or update mirror pod annotation"),
            ("abc", "abc", nil),
            (nil, nil, nil),
        ] as [(String?, String?, String?)])
    func annotationUpdate(old: String?, new: String?, error: String?) {
        var a = Self.pod(mirror: false)
        a.metadata.annotations["kubernetes.io/config.mirror"] = old
        var b = a
        b.metadata.annotations["kubernetes.io/config.mirror"] = new
        let errs = b.validateUpdate(from: a).filter { $0.field.description.contains("config.mirror") }
        #expect(
            errs.map(\.description) == error.map {
                ["metadata.annotations[kubernetes.io/config.mirror]: Forbidden: \($0)"]
            } ?? [])
    }
}
