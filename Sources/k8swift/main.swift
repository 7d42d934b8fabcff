import ArgumentParser
import KubernetesAPI

/// The k8swift multi-call binary. Subcommands appear as they become real.
struct K8swift: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "k8swift",
        abstract: "Kubernetes, written in Swift.",
        version: K8swiftVersion.full,
        subcommands: [Version.self]
    )
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the k8swift version and the Kubernetes API version it implements.")

    func run() {
        print("k8swift \(K8swiftVersion.k8swift)")
        print("Kubernetes API \(K8swiftVersion.kubernetes)")
    }
}

K8swift.main()
