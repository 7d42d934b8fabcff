/// A Go API package we generate Swift for: where its types come from and where they go.
struct APIPackage {
    /// Protobuf package, e.g. `k8s.io.api.apps.v1`.
    var proto: String
    /// Swift module, e.g. `APIApps`.
    var module: String
    /// Swift namespace enum for this version, e.g. `AppsV1`.
    var namespace: String
    /// API group ("" for core) and version.
    var group: String
    var version: String
    /// Stem of the Go facts file in codegen/gofacts.
    var facts: String
    /// OpenAPI schema name prefix, e.g. `io.k8s.api.apps.v1`.
    var openAPIPrefix: String
}

/// Maps a Go package directory name to the Swift module and namespace stem.
private let groupTable: [(dir: String, module: String, stem: String, group: String)] = [
    ("admission", "APIAdmission", "Admission", "admission.k8s.io"),
    ("admissionregistration", "APIAdmissionRegistration", "AdmissionRegistration", "admissionregistration.k8s.io"),
    ("apidiscovery", "APIAggregatedDiscovery", "APIDiscovery", "apidiscovery.k8s.io"),
    ("apiserverinternal", "APIServerInternal", "APIServerInternal", "internal.apiserver.k8s.io"),
    ("apps", "APIApps", "Apps", "apps"),
    ("authentication", "APIAuthentication", "Authentication", "authentication.k8s.io"),
    ("authorization", "APIAuthorization", "Authorization", "authorization.k8s.io"),
    ("autoscaling", "APIAutoscaling", "Autoscaling", "autoscaling"),
    ("batch", "APIBatch", "Batch", "batch"),
    ("certificates", "APICertificates", "Certificates", "certificates.k8s.io"),
    ("coordination", "APICoordination", "Coordination", "coordination.k8s.io"),
    ("core", "APICore", "Core", ""),
    ("discovery", "APIDiscovery", "Discovery", "discovery.k8s.io"),
    ("events", "APIEvents", "Events", "events.k8s.io"),
    ("flowcontrol", "APIFlowControl", "FlowControl", "flowcontrol.apiserver.k8s.io"),
    ("networking", "APINetworking", "Networking", "networking.k8s.io"),
    ("node", "APINode", "Node", "node.k8s.io"),
    ("policy", "APIPolicy", "Policy", "policy"),
    ("rbac", "APIRBAC", "RBAC", "rbac.authorization.k8s.io"),
    ("resource", "APIResource", "Resource", "resource.k8s.io"),
    ("scheduling", "APIScheduling", "Scheduling", "scheduling.k8s.io"),
    ("storage", "APIStorage", "Storage", "storage.k8s.io"),
    ("storagemigration", "APIStorageMigration", "StorageMigration", "storagemigration.k8s.io"),
]

/// Every package in scope: the group-versions in the OpenAPI spec, meta/v1, and the non-resource
/// packages the server exchanges (admission/v1, apidiscovery/v2). Removed beta versions are not here.
func allPackages(openAPIGroupVersions: Set<String>) -> [APIPackage] {
    var out: [APIPackage] = []
    let extra: Set<String> = ["k8s.io.api.admission.v1", "k8s.io.api.apidiscovery.v2"]
    for g in groupTable {
        for v in ["v1", "v2", "v1beta1", "v1beta2", "v1beta3", "v1alpha1", "v1alpha2", "v1alpha3"] {
            let proto = "k8s.io.api.\(g.dir).\(v)"
            guard openAPIGroupVersions.contains(proto) || extra.contains(proto) else { continue }
            out.append(
                APIPackage(
                    proto: proto, module: g.module, namespace: g.stem + v.prefix(1).uppercased() + v.dropFirst(),
                    group: g.group == "" ? "" : g.group, version: v, facts: "api_\(g.dir)_\(v)",
                    openAPIPrefix: "io.k8s.api.\(g.dir).\(v)"))
        }
    }
    out.append(
        APIPackage(
            proto: "k8s.io.apimachinery.pkg.apis.meta.v1", module: "APIMachinery", namespace: "MetaV1",
            group: "meta.k8s.io", version: "v1", facts: "apimachinery_meta_v1",
            openAPIPrefix: "io.k8s.apimachinery.pkg.apis.meta.v1"))
    out.append(
        APIPackage(
            proto: "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1", module: "APIExtensions",
            namespace: "APIExtensionsV1", group: "apiextensions.k8s.io", version: "v1",
            facts: "apiextensions_apiserver_apiextensions_v1",
            openAPIPrefix: "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1"))
    out.append(
        APIPackage(
            proto: "k8s.io.kube_aggregator.pkg.apis.apiregistration.v1", module: "APIRegistration",
            namespace: "APIRegistrationV1", group: "apiregistration.k8s.io", version: "v1",
            facts: "kube_aggregator_apiregistration_v1",
            openAPIPrefix: "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1"))
    return out
}

/// Messages with hand-written Swift types (custom wire forms), by full protobuf name.
let specialTypes: [String: (swift: String, nullable: Bool)] = [
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time": ("Time", true),
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": ("MicroTime", true),
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration": ("Duration", false),
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": ("FieldsV1", false),
    "k8s.io.apimachinery.pkg.apis.meta.v1.Timestamp": ("", false),
    "k8s.io.apimachinery.pkg.runtime.RawExtension": ("RawExtension", false),
    "k8s.io.apimachinery.pkg.runtime.Unknown": ("RuntimeUnknown", false),
    "k8s.io.apimachinery.pkg.runtime.TypeMeta": ("RuntimeTypeMeta", false),
    "k8s.io.apimachinery.pkg.api.resource.Quantity": ("Quantity", false),
    "k8s.io.apimachinery.pkg.api.resource.QuantityValue": ("", false),
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": ("IntOrString", false),
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSON": ("APIExtensionsV1.JSON", false),
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray": (
        "APIExtensionsV1.JSONSchemaPropsOrArray", false
    ),
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool": (
        "APIExtensionsV1.JSONSchemaPropsOrBool", false
    ),
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray": (
        "APIExtensionsV1.JSONSchemaPropsOrStringArray", false
    ),
]

/// Messages that wrap a Go named slice type (`type ExtraValue []string`): JSON is a bare array.
let sliceMessages: Set<String> = ["Verbs", "ExtraValue"]

/// The protobuf package names that are not `k8s.io.api.*` but carry generated types.
func packageOf(_ message: String) -> String {
    String(message[..<message.lastIndex(of: ".")!])
}
