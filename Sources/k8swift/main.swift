import APIMachinery
import ArgumentParser
import Foundation
import KubernetesAPI

/// The k8swift multi-call binary. Subcommands appear as they become real.
struct K8swift: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "k8swift",
        abstract: "Kubernetes, written in Swift.",
        version: K8swiftVersion.full,
        subcommands: [
            Version.self, Server.self, KubeAPIServer.self, KubeControllerManager.self, KubeSchedulerCommand.self,
            KubeletCommand.self, AgentCommand.self, HollowNodesCommand.self, KubeProxyCommand.self,
            ClusterDNSCommand.self,
        ]
    )
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the version of this build: the Kubernetes version it implements and its git facts.")

    enum Output: String, ExpressibleByArgument, CaseIterable {
        case json, yaml
    }

    @Option(name: [.short, .long], help: "One of 'json' or 'yaml' (the fields /version serves).")
    var output: Output?

    func run() throws {
        let info = K8swiftVersion.info
        switch output {
        case .json:
            print(String(decoding: info.jsonBytes, as: UTF8.self))
        case .yaml:
            print(try YAML.fromJSON(info.jsonBytes), terminator: "")
        case nil:
            print("k8swift version \(info.gitVersion)")
            for f in info.fields
            where ["gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler", "platform"]
                .contains(f.name)
            {
                print("  \(f.name): \(f.value)")
            }
        }
    }
}

/// Upstream's component binaries. A link to k8swift named after one (`ln -s k8swift kube-apiserver`)
/// runs that component, as hyperkube's links did.
enum Component {
    static let names = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"]

    /// The arguments to parse: the command line, with the component's subcommand first when the
    /// program was started under a component's name.
    static func arguments(_ argv: [String]) -> [String] {
        let invoked = URL(fileURLWithPath: argv.first ?? "k8swift").lastPathComponent
        guard names.contains(invoked) else { return Array(argv.dropFirst()) }
        let served = K8swift.configuration.subcommands.map { $0._commandName }
        guard served.contains(invoked) else {
            FileHandle.standardError.write(
                Data(
                    "\(invoked): this k8swift build (\(K8swiftVersion.k8swift)) does not include \(invoked) yet\n".utf8)
            )
            exit(1)
        }
        return [invoked] + argv.dropFirst()
    }
}

Residency.adviseRandomAccess()

// Usage errors exit with 1 (as upstream's components do), not ArgumentParser's 64.
do {
    let command = try K8swift.parseAsRoot(Component.arguments(CommandLine.arguments))
    if let server = command as? Server {
        try await server.run()
    } else if let apiserver = command as? KubeAPIServer {
        try await apiserver.run()
    } else if let kcm = command as? KubeControllerManager {
        try await kcm.run()
    } else if let scheduler = command as? KubeSchedulerCommand {
        try await scheduler.run()
    } else if let kubelet = command as? KubeletCommand {
        try await kubelet.run()
    } else if let agent = command as? AgentCommand {
        try await agent.run()
    } else if let hollow = command as? HollowNodesCommand {
        try await hollow.run()
    } else if let proxy = command as? KubeProxyCommand {
        try await proxy.run()
    } else if let dns = command as? ClusterDNSCommand {
        try await dns.run()
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
