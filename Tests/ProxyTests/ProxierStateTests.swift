import Testing

@testable import Proxy

/// Full and partial syncs (upstream's partial sync: only changed Services' chains and elements
/// are written; unused chains are flushed, then deleted a moment later) and conntrack clean-up.
@Suite("sync planning")
struct ProxierStateTests {
    typealias F = Fixture

    static let svc1 = F.service("ns1", "svc1", ip: "172.30.0.41")
    static let svc2 = F.service("ns2", "svc2", ip: "172.30.0.42", type: "NodePort", nodePort: 3002)

    static func twoServices(svc2Endpoints: [String]) -> [String: ServiceRules] {
        [
            "ns1/svc1": F.rules(svc1, [F.slice("ns1", "svc1", [.init(ip: "10.180.0.1")])]),
            "ns2/svc2": F.rules(svc2, [F.slice("ns2", "svc2", svc2Endpoints.map { .init(ip: $0) })]),
        ]
    }

    @Test("a full sync writes the setup, every chain, refilled maps, and flushes chains nobody uses")
    func full() {
        let services = Self.twoServices(svc2Endpoints: ["10.180.0.2"])
        let leftover = "service-AAAAAAAA-old/gone/tcp/p80"
        let plan = ProxierState.planFull(
            settings: F.settings, services: services, existingChains: ["services", leftover],
            existingSets: ["affinity-AAAAAAAA-old/gone/tcp/p80__10.0.0.1/80", "cluster-ips"], recreateBaseChains: false,
            now: 5)
        let lines = plan.script.split(separator: "\n").map(String.init)
        #expect(lines.contains("flush map ip kube-proxy service-ips"))
        let svc1Chain = ProxyRules.clusterChain(F.name("ns1", "svc1"))
        #expect(lines.contains("add chain ip kube-proxy \(svc1Chain)"))
        #expect(lines.contains("flush chain ip kube-proxy \(svc1Chain)"))
        #expect(lines.contains("add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto \(svc1Chain) }"))
        #expect(lines.contains("flush chain ip kube-proxy \(leftover)"))
        #expect(lines.contains("delete set ip kube-proxy affinity-AAAAAAAA-old/gone/tcp/p80__10.0.0.1/80"))
        #expect(!lines.contains("delete set ip kube-proxy cluster-ips"))
        #expect(plan.next.staleChains == [leftover: 5])
        #expect(plan.next.elements["service-ips"]?["172.30.0.41 . tcp . 80"]?.owner == "ns1/svc1")
        // Each element is added after the chain it names exists.
        let addChain = lines.firstIndex(of: "add chain ip kube-proxy \(svc1Chain)")!
        let addElement = lines.firstIndex { $0.contains("service-ips { 172.30.0.41") }!
        #expect(addChain < addElement)
        // The stale chain is deleted a second later, not before.
        #expect(plan.next.planStaleChainDeletion(settings: F.settings, now: 5.5).script.isEmpty)
        let del = plan.next.planStaleChainDeletion(settings: F.settings, now: 6.1)
        #expect(del.script == "delete chain ip kube-proxy \(leftover)\n")
        #expect(del.next.staleChains.isEmpty)
    }

    @Test("a partial sync after one Service changes touches only that Service's chains and elements")
    func partialTouchesOnlyChanged() {
        let before = ProxierState.planFull(
            settings: F.settings, services: Self.twoServices(svc2Endpoints: ["10.180.0.2"]), existingChains: [],
            existingSets: [], recreateBaseChains: true, now: 0
        ).next
        let changed = Self.twoServices(svc2Endpoints: ["10.180.0.2", "10.180.0.3"])["ns2/svc2"]!
        let plan = before.planPartial(settings: F.settings, changes: ["ns2/svc2": changed], now: 1)
        let n2 = F.name("ns2", "svc2")
        // svc1's chains and elements are not named at all.
        #expect(!plan.script.contains("ns1/svc1"))
        #expect(!plan.script.contains("172.30.0.41"))
        // svc2's service chain is rewritten (flush + rules), its new endpoint chain added; the
        // unchanged endpoint chain and external chain are left alone.
        let lines = plan.script.split(separator: "\n").map(String.init)
        #expect(lines.contains("flush chain ip kube-proxy \(ProxyRules.clusterChain(n2))"))
        #expect(lines.contains("add chain ip kube-proxy \(ProxyRules.endpointChain(n2, F.ep("10.180.0.3")))"))
        #expect(!lines.contains("flush chain ip kube-proxy \(ProxyRules.endpointChain(n2, F.ep("10.180.0.2")))"))
        #expect(!lines.contains("flush chain ip kube-proxy \(ProxyRules.externalChain(n2))"))
        #expect(plan.writtenChains == [ProxyRules.clusterChain(n2), ProxyRules.endpointChain(n2, F.ep("10.180.0.3"))])
        // Map elements did not change (same chains): none is rewritten.
        #expect(!plan.script.contains("element"))
        #expect(!plan.script.contains("setup") && !plan.script.contains("add table"))
        #expect(plan.next.services["ns2/svc2"] == changed)

        // Nothing changed: nothing to send.
        let same = before.planPartial(settings: F.settings, changes: ["ns1/svc1": before.services["ns1/svc1"]!], now: 1)
        #expect(same.script.isEmpty)
    }

    @Test("scaling to zero swaps the dispatch element for a reject element and flushes the Service's chains")
    func scaleToZeroAndDelete() {
        let before = ProxierState.planFull(
            settings: F.settings, services: Self.twoServices(svc2Endpoints: ["10.180.0.2"]), existingChains: [],
            existingSets: [], recreateBaseChains: true, now: 0
        ).next
        let n2 = F.name("ns2", "svc2")
        let zero = F.rules(Self.svc2, [])
        let plan = before.planPartial(settings: F.settings, changes: ["ns2/svc2": zero], now: 10)
        let lines = plan.script.split(separator: "\n").map(String.init)
        #expect(lines.contains("delete element ip kube-proxy service-ips { 172.30.0.42 . tcp . 80 }"))
        #expect(lines.contains("delete element ip kube-proxy service-nodeports { tcp . 3002 }"))
        #expect(
            lines.contains(
                "add element ip kube-proxy no-endpoint-services { 172.30.0.42 . tcp . 80 comment \"ns2/svc2:p80\" : goto reject-chain }"
            ))
        #expect(lines.contains("flush chain ip kube-proxy \(ProxyRules.clusterChain(n2))"))
        #expect(plan.flushedStaleChains.count == 3)
        // Element deletions come after the flushes, so no rule points at a missing element.
        let firstDelete = lines.firstIndex { $0.hasPrefix("delete element") }!
        let lastFlush = lines.lastIndex { $0.hasPrefix("flush chain") }!
        #expect(lastFlush < firstDelete)

        // Deleting the Service: its remaining elements go; cluster-ips loses its address.
        let gone = plan.next.planPartial(settings: F.settings, changes: ["ns2/svc2": nil], now: 11)
        #expect(gone.script.contains("delete element ip kube-proxy cluster-ips { 172.30.0.42 }"))
        #expect(gone.script.contains("delete element ip kube-proxy no-endpoint-services { 172.30.0.42 . tcp . 80 }"))
        #expect(gone.next.services["ns2/svc2"] == nil)
        #expect(gone.next.elements.values.allSatisfy { $0.values.allSatisfy { $0.owner != "ns2/svc2" } })
        // A chain used again before its deletion is taken back from the stale list.
        let back = plan.next.planPartial(
            settings: F.settings, changes: ["ns2/svc2": before.services["ns2/svc2"]!], now: 10.5)
        #expect(back.next.staleChains.isEmpty)
        #expect(back.next.planStaleChainDeletion(settings: F.settings, now: 20).script.isEmpty)
    }

    @Test("UDP conntrack: entries of removed endpoints, and all entries once endpoints appear")
    func conntrack() {
        let svc = F.service("ns1", "dns", ip: "10.96.0.10", port: 53, portName: "dns", proto: "UDP")
        let one = F.rules(
            svc, [F.slice("ns1", "dns", port: 53, portName: "dns", proto: "UDP", [.init(ip: "10.42.0.6")])])
        let other = F.rules(
            svc, [F.slice("ns1", "dns", port: 53, portName: "dns", proto: "UDP", [.init(ip: "10.42.0.7")])])
        let none = F.rules(svc, [])
        #expect(
            ConntrackCleanup.deletions(old: one, new: other) == [
                ["-D", "-p", "udp", "--orig-dst", "10.96.0.10", "--orig-port-dst", "53", "--dst-nat", "10.42.0.6"]
            ])
        #expect(
            ConntrackCleanup.deletions(old: none, new: one) == [
                ["-D", "-p", "udp", "--orig-dst", "10.96.0.10", "--orig-port-dst", "53"]
            ])
        #expect(ConntrackCleanup.deletions(old: one, new: one).isEmpty)
        let tcp = F.rules(F.service("ns1", "web", ip: "10.96.0.11"), [F.slice("ns1", "web", [.init(ip: "10.42.0.8")])])
        #expect(ConntrackCleanup.deletions(old: tcp, new: nil).isEmpty, "TCP flows end by themselves")
    }

    @Test("nft listings: chain and set names")
    func listingNames() {
        let listing = """
            table ip kube-proxy {
            \tchain services {
            \t\tip daddr . meta l4proto . th dport vmap @service-ips
            \t}
            \tchain endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 {
            \t}
            }
            """
        #expect(
            NFTables.names(in: listing, keyword: "chain") == [
                "services", "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80",
            ])
    }
}
