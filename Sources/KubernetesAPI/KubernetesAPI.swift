@_exported import APIMachinery
@_exported import APIAdmission
@_exported import APIAdmissionRegistration
@_exported import APIAggregatedDiscovery
@_exported import APIApps
@_exported import APIAuthentication
@_exported import APIAuthorization
@_exported import APIAutoscaling
@_exported import APIBatch
@_exported import APICertificates
@_exported import APICoordination
@_exported import APICore
@_exported import APIDiscovery
@_exported import APIEvents
@_exported import APIExtensions
@_exported import APIFlowControl
@_exported import APINetworking
@_exported import APINode
@_exported import APIPolicy
@_exported import APIRBAC
@_exported import APIRegistration
@_exported import APIResource
@_exported import APIScheduling
@_exported import APIServerInternal
@_exported import APIStorage
@_exported import APIStorageMigration

/// Every group-version namespace k8swift implements, and the scheme built from them.
public enum KubernetesAPI {
    /// All generated namespaces with their kinds.
    public static let namespaces: [(groupVersion: GroupVersion, kinds: [any APIKind.Type])] = [
        (AdmissionV1.groupVersion, AdmissionV1.kinds),
        (AdmissionRegistrationV1.groupVersion, AdmissionRegistrationV1.kinds),
        (AdmissionRegistrationV1alpha1.groupVersion, AdmissionRegistrationV1alpha1.kinds),
        (AdmissionRegistrationV1beta1.groupVersion, AdmissionRegistrationV1beta1.kinds),
        (APIDiscoveryV2.groupVersion, APIDiscoveryV2.kinds),
        (AppsV1.groupVersion, AppsV1.kinds),
        (AuthenticationV1.groupVersion, AuthenticationV1.kinds),
        (AuthorizationV1.groupVersion, AuthorizationV1.kinds),
        (AutoscalingV1.groupVersion, AutoscalingV1.kinds),
        (AutoscalingV2.groupVersion, AutoscalingV2.kinds),
        (BatchV1.groupVersion, BatchV1.kinds),
        (CertificatesV1.groupVersion, CertificatesV1.kinds),
        (CertificatesV1alpha1.groupVersion, CertificatesV1alpha1.kinds),
        (CertificatesV1beta1.groupVersion, CertificatesV1beta1.kinds),
        (CoordinationV1.groupVersion, CoordinationV1.kinds),
        (CoordinationV1alpha2.groupVersion, CoordinationV1alpha2.kinds),
        (CoordinationV1beta1.groupVersion, CoordinationV1beta1.kinds),
        (CoreV1.groupVersion, CoreV1.kinds),
        (DiscoveryV1.groupVersion, DiscoveryV1.kinds),
        (EventsV1.groupVersion, EventsV1.kinds),
        (APIExtensionsV1.groupVersion, APIExtensionsV1.kinds),
        (FlowControlV1.groupVersion, FlowControlV1.kinds),
        (NetworkingV1.groupVersion, NetworkingV1.kinds),
        (NetworkingV1beta1.groupVersion, NetworkingV1beta1.kinds),
        (NodeV1.groupVersion, NodeV1.kinds),
        (PolicyV1.groupVersion, PolicyV1.kinds),
        (RBACV1.groupVersion, RBACV1.kinds),
        (APIRegistrationV1.groupVersion, APIRegistrationV1.kinds),
        (ResourceV1.groupVersion, ResourceV1.kinds),
        (ResourceV1alpha3.groupVersion, ResourceV1alpha3.kinds),
        (ResourceV1beta1.groupVersion, ResourceV1beta1.kinds),
        (ResourceV1beta2.groupVersion, ResourceV1beta2.kinds),
        (SchedulingV1.groupVersion, SchedulingV1.kinds),
        (SchedulingV1alpha2.groupVersion, SchedulingV1alpha2.kinds),
        (APIServerInternalV1alpha1.groupVersion, APIServerInternalV1alpha1.kinds),
        (StorageV1.groupVersion, StorageV1.kinds),
        (StorageV1beta1.groupVersion, StorageV1beta1.kinds),
        (StorageMigrationV1beta1.groupVersion, StorageMigrationV1beta1.kinds),
        (MetaV1.groupVersion, MetaV1.kinds),
    ]

    /// Every kind, by GVK.
    public static let kindsByGVK: [GroupVersionKind: any APIKind.Type] = {
        var out: [GroupVersionKind: any APIKind.Type] = [:]
        for ns in namespaces {
            for k in ns.kinds { out[k.groupVersionKind] = k }
        }
        return out
    }()
}
