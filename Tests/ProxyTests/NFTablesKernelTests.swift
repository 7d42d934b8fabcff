import APICore
import Foundation
import Testing

@testable import Proxy

/// The generated transactions loaded into the real kernel, in a network namespace of the test's
/// own (`ip netns add`), so the host's rules are never touched. Skipped without root or `nft`.
@Suite("nftables in the kernel", .serialized)
struct NFTablesKernelTests {
    typealias F = Fixture

    static var missing: String? {
        if getuid() != 0 { return "not root" }
        if !FileManager.default.isExecutableFile(atPath: NFTables.defaultPath) { return "no nft (Debian nftables)" }
        if !FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")
            && !FileManager.default.isExecutableFile(
                atPath: "/sbin/ip")
        {
            return "no ip (Debian iproute2)"
        }
        return nil
    }

    static func ip(_ args: [String]) throws -> CommandResult {
        let ip = FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip"
        return try HostCommand.run(ip, args)
    }

    /// A namespace that exists for the body only.
    static func inNamespace(_ body: (NFTables) throws -> Void) throws {
        let ns = "k8swift-proxy-\(getpid())"
        _ = try ip(["netns", "del", ns])
        let add = try ip(["netns", "add", ns])
        try #require(add.status == 0, "ip netns add: \(add.error)")
        defer { _ = try? ip(["netns", "del", ns]) }
        try body(NFTables(namespace: ns))
    }

    static func allFeatures() -> [String: ServiceRules] {
        let local = F.service("ns3", "lb", ip: "172.30.0.43", type: "LoadBalancer", nodePort: 3003) {
            $0.spec.externalTrafficPolicy = "Local"
            $0.spec.healthCheckNodePort = 30003
            $0.spec.loadBalancerSourceRanges = ["203.0.113.0/25"]
            $0.spec.sessionAffinity = "ClientIP"
            $0.spec.externalIPs = ["192.168.99.11"]
            var ing = CoreV1.LoadBalancerIngress()
            ing.ip = "1.2.3.4"
            $0.status.loadBalancer.ingress = [ing]
        }
        return [
            "ns1/svc1": F.rules(
                F.service("ns1", "svc1", ip: "172.30.0.41"),
                [F.slice("ns1", "svc1", [.init(ip: "10.180.0.1"), .init(ip: "10.180.0.2")])]),
            "ns2/none": F.rules(F.service("ns2", "none", ip: "172.30.0.42", type: "NodePort", nodePort: 3002), []),
            "ns3/lb": F.rules(
                local,
                [F.slice("ns3", "lb", [.init(ip: "10.180.0.3", node: F.node), .init(ip: "10.180.0.4", node: "other")])]),
            "ns4/dns": F.rules(
                F.service("ns4", "dns", ip: "172.30.0.10", port: 53, portName: "dns", proto: "UDP") {
                    $0.spec.internalTrafficPolicy = "Local"
                },
                [
                    F.slice(
                        "ns4", "dns", port: 53, portName: "dns", proto: "UDP", [.init(ip: "10.180.0.5", node: "other")])
                ]),
        ]
    }

    @Test("full, partial and stale-chain transactions load, and --cleanup removes the table")
    func loadAndCleanUp() throws {
        if let why = Self.missing {
            print("skipped: the kernel nftables test needs root, nft and ip: \(why)")
            return
        }
        try Self.inNamespace { nft in
            let settings = F.settings
            let services = Self.allFeatures()
            let full = ProxierState.planFull(
                settings: settings, services: services, existingChains: [], existingSets: [], recreateBaseChains: true,
                now: 0)
            try nft.apply(full.script)
            let table = try #require(nft.listTable(family: .ipv4))
            #expect(table.contains("chain nat-output"))
            #expect(table.contains("numgen random mod 2 vmap"))
            #expect(table.contains("172.30.0.42 . tcp . 80 comment \"ns2/none:p80\" : goto reject-chain"))
            #expect(table.contains("set affinity-"))

            // The same full sync again (a restart): the existing table is taken over in place.
            let chains = try #require(nft.list("chains", family: .ipv4))
            let again = ProxierState.planFull(
                settings: settings, services: services, existingChains: chains,
                existingSets: nft.list("sets", family: .ipv4) ?? [], recreateBaseChains: true, now: 0)
            try nft.apply(again.script)

            // Partial: svc1 loses an endpoint, ns2/none gains one, ns3/lb goes.
            var changes: [String: ServiceRules?] = [:]
            changes["ns1/svc1"] = F.rules(
                F.service("ns1", "svc1", ip: "172.30.0.41"), [F.slice("ns1", "svc1", [.init(ip: "10.180.0.1")])])
            changes["ns2/none"] = F.rules(
                F.service("ns2", "none", ip: "172.30.0.42", type: "NodePort", nodePort: 3002),
                [F.slice("ns2", "none", [.init(ip: "10.180.0.9")])])
            changes["ns3/lb"] = .some(nil)
            let partial = again.next.planPartial(settings: settings, changes: changes, now: 1)
            try nft.apply(partial.script)
            let after = try #require(nft.listTable(family: .ipv4))
            #expect(!after.contains("comment \"ns2/none:p80\""), "ns2/none has an endpoint now: no reject element")
            #expect(after.contains("172.30.0.10 . udp . 53 comment \"ns4/dns:dns\" : drop"))
            #expect(!after.contains("set affinity-"))
            #expect(after.contains("ns3/lb"), "flushed chains wait a moment before deletion")
            let stale = partial.next.planStaleChainDeletion(settings: settings, now: 3)
            try nft.apply(stale.script)
            let cleaned = try #require(nft.listTable(family: .ipv4))
            #expect(!cleaned.contains("ns3/lb"))
            #expect(!cleaned.contains("10.180.0.2"))

            // A full sync over a table holding chains it does not know flushes them.
            let resync = ProxierState.planFull(
                settings: settings, services: [:], existingChains: nft.list("chains", family: .ipv4) ?? [],
                existingSets: nft.list("sets", family: .ipv4) ?? [], recreateBaseChains: false, now: 4)
            try nft.apply(resync.script)
            #expect(resync.flushedStaleChains.count >= 3)

            #expect(nft.cleanup().isEmpty)
            #expect(nft.listTable(family: .ipv4) == nil)
            #expect(nft.cleanup().isEmpty, "cleaning an absent table is no error")
        }
    }
}
