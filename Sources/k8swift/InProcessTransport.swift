import APIServer
import Foundation
import KubeClient
import NIOHTTP1

/// Carries a component's requests to the API server in the same process: each request enters the
/// server's own handler chain (authentication as the component's user, authorization, admission,
/// validation, the watch cache), exactly as one over HTTPS would, minus TLS and sockets.
final class InProcessTransport: KubeTransport {
    let server: APIServer
    let user: String
    let groups: [String]

    init(server: APIServer, user: String, groups: [String]) {
        self.server = server
        self.user = user
        self.groups = groups
    }

    func send(_ request: KubeRequest, timeout: Swift.Duration?) async throws -> KubeResponse {
        var headers = HTTPHeaders()
        for h in request.headers where h.name.caseInsensitiveCompare("Authorization") != .orderedSame {
            headers.add(name: h.name, value: h.value)
        }
        let req = HTTPRequest(
            method: HTTPMethod(rawValue: request.method), uri: request.uri, headers: headers, body: request.body ?? [],
            identity: .certificate(commonName: user, organizations: groups), isHTTP2: true)
        let resp = await server.handle(req)
        let outHeaders = resp.headers.map { (name: $0.name, value: $0.value) }
        switch resp.body {
        case .bytes(let b):
            return KubeResponse(status: Int(resp.status.code), headers: outHeaders, body: b)
        case .stream(let chunks):
            let stream = AsyncThrowingStream<[UInt8], any Error> { c in
                let task = Task {
                    for await chunk in chunks { c.yield(chunk) }
                    c.finish()
                }
                c.onTermination = { _ in task.cancel() }
            }
            return KubeResponse(status: Int(resp.status.code), headers: outHeaders, stream: stream)
        case .upgrade:
            // Upgrades (exec, attach, port-forward) need a connection; in-process components make none.
            return KubeResponse(status: 400, headers: outHeaders, body: [])
        }
    }

    func shutdown() async {}
}
