import ArgumentParser
import Foundation
import KubernetesAPI

/// The k8swift multi-call binary. Subcommands appear as they become real.
struct K8swift: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "k8swift",
        abstract: "Kubernetes, written in Swift.",
        version: K8swiftVersion.full,
        subcommands: [Version.self, Server.self, KubeAPIServer.self]
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

Residency.adviseRandomAccess()

// Usage errors exit with 1 (as upstream's components do), not ArgumentParser's 64.
do {
    let command = try K8swift.parseAsRoot()
    if let server = command as? Server {
        try await server.run()
    } else if let apiserver = command as? KubeAPIServer {
        try await apiserver.run()
    } else {
        var sync = command
        try sync.run()
    }
} catch {
    let code = K8swift.exitCode(for: error)
    let message = K8swift.fullMessage(for: error)
    if code == .success {
        if !message.isEmpty { print(message) }
        exit(0)
    }
    if !message.isEmpty { FileHandle.standardError.write(Data((message + "\n").utf8)) }
    exit(code.rawValue == 64 ? 1 : code.rawValue)
}
