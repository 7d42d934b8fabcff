import Testing

@testable import Controllers

@Suite("--controllers")
struct SelectionTests {
    let all = ControllerCatalog.all(options: ControllerOptions())

    func names(_ flag: String) -> Set<String> {
        Set(all.filter { ControllerSelection(flag).isEnabled($0) }.map(\.name))
    }

    @Test("'*' runs the default controllers; 'foo' adds one; '-foo' removes one; old names work too")
    func selection() {
        let defaults = names("*")
        #expect(defaults.contains("deployment-controller") && defaults.contains("garbage-collector-controller"))
        #expect(!defaults.contains("bootstrap-signer-controller"), "off by default upstream")
        #expect(names("*,bootstrapsigner").contains("bootstrap-signer-controller"))
        #expect(!names("*,-deployment").contains("deployment-controller"))
        #expect(!names("*,-deployment-controller").contains("deployment-controller"))
        #expect(names("replicaset") == ["replicaset-controller"])
        #expect(ControllerSelection("*,nonsense,-deployment").unknown(among: all) == ["nonsense"])
    }
}
