import APINetworking
import Foundation
import Testing

@testable import Proxy

/// The compiled NetworkPolicy table in the real kernel with real traffic: a "node" network
/// namespace holding bridge `k8swift0` (br_netfilter's `bridge-nf-call-iptables` on, as kube-proxy
/// sets it) and three "pod" namespaces on it, each serving TCP 8080 with busybox `nc`. Checks that
/// bridged pod-to-pod traffic reaches the forward hook, default deny blocks, allow-by-label and
/// ipBlock `except` admit exactly the right peers, replies of allowed connections pass, the node
/// reaches its pods, and a pod change applied as element updates takes effect. Skipped without
/// root, `nft`, `ip` or busybox.
@Suite("NetworkPolicy in the kernel", .serialized)
struct NetworkPolicyKernelTests {
    typealias T = NetworkPolicyTests

    static var missing: String? {
        if let why = NFTablesKernelTests.missing { return why }
        if !FileManager.default.isExecutableFile(atPath: busybox) {
            return "no busybox (Debian busybox) for nc and ping"
        }
        if !FileManager.default.fileExists(atPath: "/proc/sys/net/bridge/bridge-nf-call-iptables") {
            return "no br_netfilter (/proc/sys/net/bridge)"
        }
        return nil
    }

    static let busybox = "/usr/bin/busybox"
    static let node = "node-1"
    static let addrs = ["a": "10.244.0.2", "b": "10.244.0.3", "c": "10.244.0.4"]
    static let namespaces = [
        PolicyNamespace(name: "prod", labels: ["team": "prod"]), PolicyNamespace(name: "dev", labels: ["team": "dev"]),
    ]

    static func pods(cLabels: [String: String] = ["app": "job"]) -> [PolicyPod] {
        [
            PolicyPod(
                namespace: "prod", name: "a", ips: [addrs["a"]!], labels: ["app": "db"], nodeName: node,
                ports: [.init("http", 8080)]),
            PolicyPod(namespace: "dev", name: "b", ips: [addrs["b"]!], labels: ["app": "web"], nodeName: node),
            PolicyPod(namespace: "dev", name: "c", ips: [addrs["c"]!], labels: cLabels, nodeName: node),
        ]
    }

    /// A node namespace, three pod namespaces on its bridge and a server in each, for the body only.
    final class Lab {
        let prefix = "k8snp-\(getpid())"
        var servers: [Process] = []
        var nodeNS: String { "\(prefix)-n" }
        func ns(_ pod: String) -> String { "\(prefix)-\(pod)" }

        func run(_ args: [String]) throws -> CommandResult { try NFTablesKernelTests.ip(args) }
        func must(_ args: [String]) throws {
            let r = try run(args)
            try #require(r.status == 0, "ip \(args.joined(separator: " ")): \(r.error)")
        }
        func exec(_ ns: String, _ cmd: [String]) throws -> CommandResult { try run(["netns", "exec", ns] + cmd) }

        func setUp() throws {
            tearDown()
            try must(["netns", "add", nodeNS])
            try must(["-n", nodeNS, "link", "set", "lo", "up"])
            try must(["-n", nodeNS, "link", "add", "k8swift0", "type", "bridge"])
            try must(["-n", nodeNS, "addr", "add", "10.244.0.1/24", "dev", "k8swift0"])
            try must(["-n", nodeNS, "link", "set", "k8swift0", "up"])
            let sysctl = try exec(nodeNS, ["/usr/sbin/sysctl", "-w", "net.bridge.bridge-nf-call-iptables=1"])
            try #require(sysctl.status == 0, "sysctl: \(sysctl.error)")
            for (pod, ip) in addrs.sorted(by: { $0.key < $1.key }) {
                try must(["netns", "add", ns(pod)])
                try must([
                    "-n", nodeNS, "link", "add", "veth-\(pod)", "type", "veth", "peer", "name", "eth0", "netns",
                    ns(pod),
                ])
                try must(["-n", nodeNS, "link", "set", "veth-\(pod)", "master", "k8swift0", "up"])
                try must(["-n", ns(pod), "addr", "add", "\(ip)/24", "dev", "eth0"])
                try must(["-n", ns(pod), "link", "set", "eth0", "up"])
                try must(["-n", ns(pod), "link", "set", "lo", "up"])
                let p = Process()
                p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
                p.arguments = [
                    "netns", "exec", ns(pod), NetworkPolicyKernelTests.busybox, "nc", "-ll", "-p", "8080", "-e",
                    "/bin/echo", "ok",
                ]
                p.standardInput = FileHandle.nullDevice
                p.standardOutput = FileHandle.nullDevice
                p.standardError = FileHandle.nullDevice
                try p.run()
                servers.append(p)
            }
            // Wait until the servers listen (all reachable before any policy).
            var tries = 0
            while tries < 50 && !addrs.keys.allSatisfy({ (try? connects("n", to: $0)) == true }) {
                usleep(100_000)
                tries += 1
            }
        }

        func tearDown() {
            for s in servers where s.isRunning { kill(s.processIdentifier, SIGKILL) }
            for s in servers { s.waitUntilExit() }
            servers = []
            for n in [nodeNS] + addrs.keys.map(ns) { _ = try? run(["netns", "del", n]) }
        }

        /// Runs a probe in a namespace and kills it after `seconds`: busybox's own `-w`/`-W`
        /// timeouts rely on SIGALRM, which children of the test process inherit blocked.
        func probe(_ from: String, _ cmd: [String], seconds: Double = 2) throws -> (status: Int32, output: String) {
            let out = NSTemporaryDirectory() + "k8snp-probe-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
            FileManager.default.createFile(atPath: out, contents: nil)
            defer { try? FileManager.default.removeItem(atPath: out) }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
            defer { try? handle.close() }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            p.arguments = ["netns", "exec", from == "n" ? nodeNS : ns(from), NetworkPolicyKernelTests.busybox] + cmd
            p.standardInput = FileHandle.nullDevice
            p.standardOutput = handle
            p.standardError = FileHandle.nullDevice
            try p.run()
            let deadline = Date().addingTimeInterval(seconds)
            while p.isRunning && Date() < deadline { usleep(20_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
            let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            return (p.terminationReason == .exit ? p.terminationStatus : -1, text)
        }

        /// Whether `from` (a pod, or "n" for the node) opens a TCP connection to `to`'s port 8080
        /// and reads the server's answer back (the reply direction).
        func connects(_ from: String, to: String) throws -> Bool {
            try probe(from, ["nc", addrs[to]!, "8080"]).output.contains("ok")
        }

        func pings(_ from: String, to: String) throws -> Bool {
            try probe(from, ["ping", "-c", "1", addrs[to]!]).status == 0
        }
    }

    static func compile(_ policies: [NetworkingV1.NetworkPolicy], pods: [PolicyPod] = Self.pods())
        -> NetworkPolicyRuleset
    {
        NetworkPolicyRules.compile(
            policies: policies, pods: pods, namespaces: namespaces, nodeName: node, family: .ipv4)
    }

    @Test("default deny, allow by label, ipBlock except, replies, node traffic and pod updates with real traffic")
    func traffic() throws {
        if let why = Self.missing {
            print("skipped: the NetworkPolicy kernel test needs root, nft, ip, busybox and br_netfilter: \(why)")
            return
        }
        let lab = Lab()
        defer { lab.tearDown() }
        try lab.setUp()
        let nft = NFTables(namespace: lab.nodeNS)

        // No policy: everything passes (and the lab works).
        var state = Self.compile([])
        try nft.apply(state.planFull())
        #expect(try lab.connects("b", to: "a"))
        #expect(try lab.connects("c", to: "a"))

        // Default deny ingress in prod isolates a: pods are blocked, the node is not, and a's own
        // connections out get their replies.
        let denyProd = T.policy(types: ["Ingress"])
        var next = Self.compile([denyProd])
        try nft.apply(state.planUpdate(to: next))
        state = next
        #expect(try !lab.connects("b", to: "a"), "default deny: bridged pod traffic is dropped")
        #expect(try !lab.connects("c", to: "a"))
        #expect(try !lab.pings("b", to: "a"))
        #expect(try lab.connects("n", to: "a"), "traffic from the node to its pods is always allowed")
        #expect(try lab.pings("n", to: "a"))
        #expect(try lab.connects("a", to: "b"), "replies of an allowed connection pass into an isolated pod")
        #expect(try lab.connects("b", to: "c"), "pods of other namespaces are not isolated")

        // Allow from dev pods labelled app=web to a's named port "http".
        let allowWeb = T.policy(
            name: "allow-web", select: ["app": "db"],
            ingress: [
                T.from(
                    [
                        NetworkingV1.NetworkPolicyPeer(
                            podSelector: T.sel(["app": "web"]), namespaceSelector: T.sel(["team": "dev"]))
                    ],
                    ports: [T.port("http")])
            ])
        next = Self.compile([denyProd, allowWeb])
        try nft.apply(state.planUpdate(to: next))
        state = next
        #expect(try lab.connects("b", to: "a"), "b matches namespace and pod selector")
        #expect(try !lab.connects("c", to: "a"), "c is in dev but not app=web")
        #expect(try !lab.pings("b", to: "a"), "only TCP to the named port is allowed")

        // c becomes app=web: only set elements change, and c gets through.
        next = Self.compile([denyProd, allowWeb], pods: Self.pods(cLabels: ["app": "web"]))
        let update = state.planUpdate(to: next)
        #expect(
            update.split(separator: "\n").allSatisfy { $0.hasPrefix("add element") || $0.hasPrefix("delete element") })
        try nft.apply(update)
        state = next
        #expect(try lab.connects("c", to: "a"))

        // ipBlock with except: the pod subnet but c.
        let block = T.policy(
            name: "block", select: ["app": "db"],
            ingress: [T.from([T.block("10.244.0.0/24", except: ["10.244.0.4/32"])])])
        next = Self.compile([block])
        try nft.apply(state.planUpdate(to: next))
        state = next
        #expect(try lab.connects("b", to: "a"))
        #expect(try lab.pings("b", to: "a"))
        #expect(try !lab.connects("c", to: "a"), "c is in the except range")

        // Default deny egress from a: a cannot open connections, but answers b (allowed ingress).
        let denyOut = T.policy(name: "deny-out", types: ["Egress"])
        next = Self.compile([block, denyOut])
        try nft.apply(state.planUpdate(to: next))
        state = next
        #expect(try !lab.connects("a", to: "b"), "egress default deny")
        #expect(try lab.connects("b", to: "a"), "replies leave an egress-isolated pod")

        // A full transaction over the existing table, then clean-up.
        try nft.apply(state.planFull())
        #expect(try !lab.connects("a", to: "b"))
        try nft.apply(NetworkPolicyRuleset.planCleanup(family: .ipv4))
        #expect(try lab.connects("a", to: "b"))
        #expect(try lab.connects("c", to: "a"))
    }
}
