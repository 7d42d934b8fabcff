import Foundation

/// The result of running a host tool.
public struct CommandResult: Sendable {
    public var status: Int32
    public var output: String
    public var error: String
}

/// Runs host tools (`nft`, `conntrack`) with their input and output in temporary files, so a
/// large rule set or listing never fills a pipe.
public enum HostCommand {
    public static func run(_ path: String, _ args: [String], input: String? = nil) throws -> CommandResult {
        let dir = NSTemporaryDirectory() + "k8swift-proxy-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outPath = dir + "/out"
        let errPath = dir + "/err"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        var arguments = args
        if let input {
            let inPath = dir + "/in"
            try input.write(toFile: inPath, atomically: false, encoding: .utf8)
            arguments = args.map { $0 == "@input" ? inPath : $0 }
        }
        p.arguments = arguments
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        try? out.close()
        try? err.close()
        return CommandResult(
            status: p.terminationStatus,
            output: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            error: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
    }
}

/// An `nft` failure: the tool's message.
public struct NFTablesError: Error, CustomStringConvertible {
    public var description: String
}

/// The proxy's use of the `nft` tool: one transaction per call (`nft -f`), listings of our table.
public struct NFTables: Sendable {
    public var path: String
    /// A network namespace to run in (`ip netns exec`), for tests; nil is the process's own.
    public var namespace: String?

    public init(path: String = NFTables.defaultPath, namespace: String? = nil) {
        self.path = path
        self.namespace = namespace
    }

    func run(_ args: [String], input: String? = nil) throws -> CommandResult {
        guard let namespace else { return try HostCommand.run(path, args, input: input) }
        let ip = FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip"
        return try HostCommand.run(ip, ["netns", "exec", namespace, path] + args, input: input)
    }

    public static var defaultPath: String {
        for p in ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"] where FileManager.default.isExecutableFile(atPath: p) {
            return p
        }
        return "/usr/sbin/nft"
    }

    public var available: Bool { FileManager.default.isExecutableFile(atPath: path) }

    /// Applies a script as one atomic transaction.
    public func apply(_ script: String) throws {
        let r = try run(["-f", "@input"], input: script)
        if r.status != 0 { throw NFTablesError(description: r.error.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Names of the chains (or sets, maps) in our table; nil when the table does not exist.
    public func list(_ what: String, family: IPFamily, table: String = ProxyRules.table) -> [String]? {
        // `-t` leaves set elements out of the listing.
        guard let r = try? run(["-t", "list", "table", family.nft, table]), r.status == 0 else { return nil }
        return Self.names(in: r.output, keyword: what == "chains" ? "chain" : what == "sets" ? "set" : "map")
    }

    /// The names after `keyword` at the start of a line of `nft list` output.
    public static func names(in listing: String, keyword: String) -> [String] {
        listing.split(separator: "\n").compactMap { line in
            let t = line.trimmingCharacters(in: .whitespaces)
            guard t.hasPrefix(keyword + " "), t.hasSuffix("{") else { return nil }
            return String(t.dropFirst(keyword.count + 1).dropLast()).trimmingCharacters(in: .whitespaces)
        }
    }

    /// Whether our table exists (its `services` chain answers).
    public func tableExists(family: IPFamily) -> Bool {
        guard let r = try? run(["list", "chain", family.nft, ProxyRules.table, ProxyRules.services])
        else { return false }
        return r.status == 0
    }

    /// The whole table as `nft list table` prints it, nil when it does not exist.
    public func listTable(family: IPFamily) -> String? {
        guard let r = try? run(["list", "table", family.nft, ProxyRules.table]), r.status == 0 else { return nil }
        return r.output
    }

    /// Deletes our table in both families (`--cleanup`); the errors, if any (an absent table is
    /// not one).
    public func cleanup() -> [String] {
        var errors: [String] = []
        for f in IPFamily.allCases {
            let script = "add table \(f.nft) \(ProxyRules.table)\ndelete table \(f.nft) \(ProxyRules.table)\n"
            do { try apply(script) } catch { errors.append("\(f.nft): \(error)") }
        }
        return errors
    }
}
