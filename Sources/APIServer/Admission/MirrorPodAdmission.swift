import APIMachinery
import KubernetesAPI

/// The mirror-pod part of upstream's `ServiceAccount` admission plugin: a pod created with the
/// `kubernetes.io/config.mirror` annotation (a kubelet's copy of a static pod) may not name a
/// service account, reference a Secret anywhere, or project a service account token. A static pod
/// runs without the API, so it can hold none of what only the API gives out.
enum MirrorPodAdmission {
    static let mirrorAnnotation = "kubernetes.io/config.mirror"

    static func admit(_ pod: CoreV1.Pod) throws {
        guard pod.metadata.annotations[mirrorAnnotation] != nil else { return }
        if !pod.spec.serviceAccountName.isEmpty {
            throw PriorityAdmission.forbidden(pod, "a mirror pod may not reference service accounts")
        }
        if referencesSecrets(pod.spec) {
            throw PriorityAdmission.forbidden(pod, "a mirror pod may not reference secrets")
        }
        let tokens = pod.spec.volumes.contains { v in
            v.volumeSource.projected?.sources.contains { $0.serviceAccountToken != nil } ?? false
        }
        if tokens {
            throw PriorityAdmission.forbidden(pod, "a mirror pod may not use ServiceAccountToken volume projections")
        }
    }

    /// Whether the spec names a Secret anywhere upstream's `VisitPodSecretNames` looks: image pull
    /// secrets, every container's environment, and volume sources with a secret.
    static func referencesSecrets(_ spec: CoreV1.PodSpec) -> Bool {
        if !spec.imagePullSecrets.isEmpty { return true }
        let envs =
            (spec.containers + spec.initContainers).map { ($0.env, $0.envFrom) }
            + spec.ephemeralContainers.map { ($0.ephemeralContainerCommon.env, $0.ephemeralContainerCommon.envFrom) }
        for (env, envFrom) in envs {
            if envFrom.contains(where: { $0.secretRef != nil }) { return true }
            if env.contains(where: { $0.valueFrom?.secretKeyRef != nil }) { return true }
        }
        for v in spec.volumes {
            let s = v.volumeSource
            if s.secret != nil || s.azureFile != nil || s.cephfs?.secretRef != nil || s.cinder?.secretRef != nil
                || s.flexVolume?.secretRef != nil || s.rbd?.secretRef != nil || s.scaleIO?.secretRef != nil
                || s.iscsi?.secretRef != nil || s.storageos?.secretRef != nil || s.csi?.nodePublishSecretRef != nil
            {
                return true
            }
            if s.projected?.sources.contains(where: { $0.secret != nil }) == true { return true }
        }
        return false
    }
}
