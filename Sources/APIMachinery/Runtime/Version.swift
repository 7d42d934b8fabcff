/// Version facts of this build.
public enum K8swiftVersion {
    /// k8swift's own version.
    public static let k8swift = "0.1.0"
    /// The Kubernetes API version implemented (served as /version's gitVersion prefix).
    public static let kubernetes = "v1.36.2"
    public static var full: String { "k8swift \(k8swift) (Kubernetes API \(kubernetes))" }
}
