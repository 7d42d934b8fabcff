import APICertificates
import APIMachinery
import ControllerRuntime
import Crypto
import Foundation
import SwiftASN1
import X509

/// A CA that signs certificate requests (`--cluster-signing-cert-file`/`--cluster-signing-key-file`).
public struct SigningAuthority: Sendable {
    public let certificate: Certificate
    public let key: Certificate.PrivateKey
    let algorithm: Certificate.SignatureAlgorithm

    /// From PEM: an EC (P-256/P-384) or RSA key, in SEC1, PKCS#1 or PKCS#8.
    public init(certificatePEM: String, keyPEM: String) throws {
        certificate = try Certificate(pemEncoded: certificatePEM)
        key = try Certificate.PrivateKey(pemEncoded: keyPEM)
        if P256.Signing.PublicKey(certificate.publicKey) != nil {
            algorithm = .ecdsaWithSHA256
        } else if P384.Signing.PublicKey(certificate.publicKey) != nil {
            algorithm = .ecdsaWithSHA384
        } else {
            algorithm = .sha256WithRSAEncryption
        }
    }
}

/// Upstream's certificatesigningrequest-signing-controller: approved requests for the built-in
/// signers get a certificate from the cluster signing CA, with the request's subject, names and
/// usages, valid for `--cluster-signing-duration` (or the request's `expirationSeconds`, if shorter),
/// backdated five minutes; requests a signer does not accept get the Failed condition.
public final class CSRSigningController: Controller {
    static let signers: Set<String> = [
        "kubernetes.io/kube-apiserver-client", "kubernetes.io/kube-apiserver-client-kubelet",
        "kubernetes.io/kubelet-serving", "kubernetes.io/legacy-unknown",
    ]

    let client: KubeClient
    let requests: ObjectStore<CertificatesV1.CertificateSigningRequest>
    let authority: SigningAuthority
    let duration: TimeInterval
    let queue = WorkQueue<ObjectKey>(name: "csrsigning")

    public init(_ ctx: ControllerContext, authority: SigningAuthority) {
        client = ctx.client
        self.authority = authority
        duration = ctx.options.clusterSigningDuration
        let inf = ctx.informers.informer(CertificatesV1.CertificateSigningRequest.self)
        requests = inf.store
        inf.addHandler(enqueueing: queue)
    }

    static func condition(_ csr: CertificatesV1.CertificateSigningRequest, _ type: String) -> Bool {
        csr.status.conditions.contains { $0.type == type && ($0.status.isEmpty || $0.status == "True") }
    }

    /// The parts of a request the signers judge.
    struct Request: Equatable {
        var organizations: [String]
        var commonName: String
        var dnsNames: [String] = []
        var ipAddresses: [String] = []
        var emails: [String] = []
        var uris: [String] = []
    }

    static func describe(_ csr: CertificateSigningRequest) throws -> Request {
        var r = Request(organizations: [], commonName: "")
        for rdn in csr.subject {
            for a in rdn {
                if a.type == .RDNAttributeType.commonName { r.commonName = String(describing: a.value) }
                if a.type == .RDNAttributeType.organizationName { r.organizations.append(String(describing: a.value)) }
            }
        }
        if let ext = try csr.attributes.extensionRequest,
            let sans = try ext.extensions.subjectAlternativeNames
        {
            for n in sans {
                switch n {
                case .dnsName(let d): r.dnsNames.append(d)
                case .rfc822Name(let e): r.emails.append(e)
                case .uniformResourceIdentifier(let u): r.uris.append(u)
                case .ipAddress(let ip): r.ipAddresses.append(ip.bytes.map(String.init).joined(separator: "."))
                default: break
                }
            }
        }
        return r
    }

    /// Whether a signer accepts the request (upstream's per-signer rules); nil, or why not.
    static func refusal(signer: String, _ r: Request, usages: [String]) -> String? {
        let use = Set(usages)
        func kubeletIdentity() -> String? {
            if r.organizations != ["system:nodes"] { return "subject organization is not system:nodes" }
            if !r.commonName.hasPrefix("system:node:") {
                return "subject common name does not begin with system:node:"
            }
            return nil
        }
        switch signer {
        case "kubernetes.io/kube-apiserver-client":
            let allowed: Set = ["digital signature", "key encipherment", "client auth"]
            if !use.contains("client auth") || !use.isSubset(of: allowed) {
                return "invalid usage for client certificate: \(usages)"
            }
        case "kubernetes.io/kube-apiserver-client-kubelet":
            if let e = kubeletIdentity() { return e }
            if !r.dnsNames.isEmpty || !r.emails.isEmpty || !r.ipAddresses.isEmpty || !r.uris.isEmpty {
                return "dnsNames, emailAddresses, ipAddresses and uris are not allowed"
            }
            let allowed: Set = ["digital signature", "key encipherment", "client auth"]
            if !use.contains("client auth") || !use.isSubset(of: allowed) {
                return "usages did not match [digital signature key encipherment client auth]"
            }
        case "kubernetes.io/kubelet-serving":
            if let e = kubeletIdentity() { return e }
            if r.dnsNames.isEmpty && r.ipAddresses.isEmpty { return "DNS or IP subjectAltName is required" }
            if !r.emails.isEmpty { return "email subjectAltNames are not allowed" }
            if !r.uris.isEmpty { return "URI subjectAltNames are not allowed" }
            let allowed: Set = ["digital signature", "key encipherment", "server auth"]
            if !use.contains("server auth") || !use.isSubset(of: allowed) {
                return "usages did not match [digital signature key encipherment server auth]"
            }
        default:
            break
        }
        return nil
    }

    /// The validity window (upstream: backdated 5 minutes, the shorter of the signing duration and
    /// the request's expirationSeconds, never past the CA's own end).
    static func validity(now: Date, duration: TimeInterval, expirationSeconds: Int32?, caNotAfter: Date)
        -> (notBefore: Date, notAfter: Date)
    {
        var ttl = duration
        if let e = expirationSeconds { ttl = min(ttl, TimeInterval(max(600, e))) }
        return (now.addingTimeInterval(-300), min(now.addingTimeInterval(ttl), caNotAfter))
    }

    /// Signs a parsed request.
    static func sign(
        _ csr: CertificateSigningRequest, usages: [String], expirationSeconds: Int32?, authority: SigningAuthority,
        duration: TimeInterval
    ) throws -> String {
        let (notBefore, notAfter) = Self.validity(
            now: Date(), duration: duration, expirationSeconds: expirationSeconds,
            caNotAfter: authority.certificate.notValidAfter)
        let use = Set(usages)
        let keyUsage = KeyUsage(
            digitalSignature: use.contains("digital signature") || use.contains("signing"),
            nonRepudiation: use.contains("content commitment"), keyEncipherment: use.contains("key encipherment"),
            dataEncipherment: use.contains("data encipherment"), keyAgreement: use.contains("key agreement"),
            keyCertSign: use.contains("cert sign"), cRLSign: use.contains("crl sign"),
            encipherOnly: use.contains("encipher only"), decipherOnly: use.contains("decipher only"))
        var ext: [ExtendedKeyUsage.Usage] = []
        if use.contains("server auth") { ext.append(.serverAuth) }
        if use.contains("client auth") { ext.append(.clientAuth) }
        if use.contains("code signing") { ext.append(.codeSigning) }
        if use.contains("email protection") || use.contains("s/mime") { ext.append(.emailProtection) }
        if use.contains("timestamping") { ext.append(.timeStamping) }
        if use.contains("ocsp signing") { ext.append(.ocspSigning) }
        if use.contains("any") { ext.append(.any) }
        let sans = try csr.attributes.extensionRequest?.extensions.subjectAlternativeNames
        let akid = try authority.certificate.extensions.subjectKeyIdentifier?.keyIdentifier
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            // No key usage asked for: no extension (an empty one is invalid).
            if keyUsage != KeyUsage() { Critical(keyUsage) }
            if !ext.isEmpty { try ExtendedKeyUsage(ext) }
            if let akid { AuthorityKeyIdentifier(keyIdentifier: akid) }
            if let sans, !sans.isEmpty { sans }
        }
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: csr.publicKey,
            notValidBefore: notBefore, notValidAfter: notAfter, issuer: authority.certificate.subject,
            subject: csr.subject, signatureAlgorithm: authority.algorithm, extensions: extensions,
            issuerPrivateKey: authority.key)
        return try cert.serializeAsPEM().pemString + "\n"
    }

    func sync(_ key: ObjectKey) async throws {
        guard var csr = requests.get(key), Self.signers.contains(csr.spec.signerName),
            Self.condition(csr, "Approved"), !Self.condition(csr, "Failed"), !Self.condition(csr, "Denied"),
            csr.status.certificate.isEmpty
        else { return }
        let now = Time(Date())
        do {
            let parsed = try CertificateSigningRequest(pemEncoded: String(decoding: csr.spec.request, as: UTF8.self))
            if let why = Self.refusal(signer: csr.spec.signerName, try Self.describe(parsed), usages: csr.spec.usages) {
                csr.status.conditions.append(
                    CertificatesV1.CertificateSigningRequestCondition(
                        type: "Failed", status: "True", reason: "SignerValidationFailure", message: why,
                        lastUpdateTime: now, lastTransitionTime: now))
            } else {
                csr.status.certificate = Array(
                    try Self.sign(
                        parsed, usages: csr.spec.usages, expirationSeconds: csr.spec.expirationSeconds,
                        authority: authority, duration: duration
                    ).utf8)
            }
        } catch {
            csr.status.conditions.append(
                CertificatesV1.CertificateSigningRequestCondition(
                    type: "Failed", status: "True", reason: "SignerValidationFailure",
                    message: "unable to parse csr: \(error)", lastUpdateTime: now, lastTransitionTime: now))
        }
        do { _ = try await client.updateStatus(csr) } catch let e as StatusError where e.isNotFound {}
    }

    public func run() async { await queue.runWorkers(5) { try await self.sync($0) } }
}

/// Upstream's certificatesigningrequest-cleaner-controller: approved, denied and failed requests go
/// after an hour, pending ones after a day, issued ones once their certificate has expired.
public final class CSRCleanerController: Controller {
    let client: KubeClient
    let requests: ObjectStore<CertificatesV1.CertificateSigningRequest>

    public init(_ ctx: ControllerContext) {
        client = ctx.client
        requests = ctx.informers.store(CertificatesV1.CertificateSigningRequest.self)
    }

    /// Whether a request is due for deletion at `now`.
    static func expired(_ csr: CertificatesV1.CertificateSigningRequest, now: Date) -> Bool {
        let created = csr.metadata.creationTimestamp.map { Date(timeIntervalSince1970: Double($0.seconds)) } ?? now
        if !csr.status.certificate.isEmpty,
            let cert = try? Certificate(pemEncoded: String(decoding: csr.status.certificate, as: UTF8.self)),
            cert.notValidAfter < now
        {
            return true
        }
        for type in ["Approved", "Denied", "Failed"] {
            if let c = csr.status.conditions.first(where: { $0.type == type }) {
                let at =
                    (c.lastUpdateTime ?? c.lastTransitionTime).map { Date(timeIntervalSince1970: Double($0.seconds)) }
                    ?? created
                if now.timeIntervalSince(at) > 3600 { return true }
                return false
            }
        }
        return now.timeIntervalSince(created) > 86400
    }

    public func run() async {
        while !Task.isCancelled {
            for csr in requests.list() where Self.expired(csr, now: Date()) {
                try? await client.delete(CertificatesV1.CertificateSigningRequest.self, csr.metadata.name)
            }
            try? await Task.sleep(for: .seconds(3600))
        }
    }
}
