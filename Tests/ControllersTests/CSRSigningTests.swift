import APICertificates
import APIMachinery
import Crypto
import Foundation
import SwiftASN1
import Testing
import X509

@testable import Controllers

/// The built-in signers, per upstream's documentation
/// (https://kubernetes.io/docs/reference/access-authn-authz/certificate-signing-requests/#kubernetes-signers):
/// what each accepts, and the certificate the signing controller issues.
@Suite("certificate signing")
struct CSRSigningTests {
    static func authority() throws -> SigningAuthority {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("test-ca") }
        let ca = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: Date().addingTimeInterval(-60), notValidAfter: Date().addingTimeInterval(30 * 86400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                SubjectKeyIdentifier(keyIdentifier: [1, 2, 3, 4])
            }, issuerPrivateKey: Certificate.PrivateKey(key))
        return try SigningAuthority(certificatePEM: try ca.serializeAsPEM().pemString, keyPEM: key.pemRepresentation)
    }

    static func request(cn: String, org: String?, dns: [String] = []) throws -> CertificateSigningRequest {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            if let org { OrganizationName(org) }
            CommonName(cn)
        }
        var attributes = CertificateSigningRequest.Attributes()
        if !dns.isEmpty {
            let ext = try Certificate.Extensions { SubjectAlternativeNames(dns.map { .dnsName($0) }) }
            attributes.insert(try CertificateSigningRequest.Attribute(ExtensionRequest(extensions: ext)))
        }
        return try CertificateSigningRequest(
            version: .v1, subject: subject, privateKey: Certificate.PrivateKey(key), attributes: attributes)
    }

    @Test("each signer's rules: kubelet identities, names, usages")
    func signerRules() throws {
        let node = try CSRSigningController.describe(try Self.request(cn: "system:node:n1", org: "system:nodes"))
        #expect(node.commonName == "system:node:n1" && node.organizations == ["system:nodes"])
        let client = ["digital signature", "key encipherment", "client auth"]
        #expect(
            CSRSigningController.refusal(signer: "kubernetes.io/kube-apiserver-client-kubelet", node, usages: client)
                == nil)
        let user = try CSRSigningController.describe(try Self.request(cn: "alice", org: "devs"))
        #expect(
            CSRSigningController.refusal(signer: "kubernetes.io/kube-apiserver-client-kubelet", user, usages: client)
                == "subject organization is not system:nodes")
        #expect(
            CSRSigningController.refusal(signer: "kubernetes.io/kube-apiserver-client", user, usages: client) == nil)
        #expect(
            CSRSigningController.refusal(signer: "kubernetes.io/kube-apiserver-client", user, usages: ["server auth"])
                != nil)
        let serving = ["digital signature", "key encipherment", "server auth"]
        #expect(
            CSRSigningController.refusal(signer: "kubernetes.io/kubelet-serving", node, usages: serving)
                == "DNS or IP subjectAltName is required")
        let named = try CSRSigningController.describe(
            try Self.request(cn: "system:node:n1", org: "system:nodes", dns: ["n1.example"]))
        #expect(CSRSigningController.refusal(signer: "kubernetes.io/kubelet-serving", named, usages: serving) == nil)
        #expect(CSRSigningController.refusal(signer: "kubernetes.io/legacy-unknown", user, usages: ["any"]) == nil)
    }

    @Test(
        "validity: backdated 5 minutes, the shorter of the signing duration and expirationSeconds (at least 10 minutes)"
    )
    func validity() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        let far = now.addingTimeInterval(1e9)
        var v = CSRSigningController.validity(now: now, duration: 86400, expirationSeconds: nil, caNotAfter: far)
        #expect(v.notBefore == now.addingTimeInterval(-300) && v.notAfter == now.addingTimeInterval(86400))
        v = CSRSigningController.validity(now: now, duration: 86400, expirationSeconds: 3600, caNotAfter: far)
        #expect(v.notAfter == now.addingTimeInterval(3600))
        v = CSRSigningController.validity(now: now, duration: 86400, expirationSeconds: 60, caNotAfter: far)
        #expect(v.notAfter == now.addingTimeInterval(600))
        v = CSRSigningController.validity(now: now, duration: 86400, expirationSeconds: nil, caNotAfter: now)
        #expect(v.notAfter == now, "never past the CA")
    }

    @Test("the issued certificate: the request's subject, key and names, the CA as issuer, the usages asked for")
    func issue() throws {
        let authority = try Self.authority()
        let csr = try Self.request(cn: "system:node:n1", org: "system:nodes", dns: ["n1.example"])
        let pem = try CSRSigningController.sign(
            csr, usages: ["digital signature", "server auth"], expirationSeconds: 3600, authority: authority,
            duration: 86400)
        let cert = try Certificate(pemEncoded: pem)
        #expect(cert.subject == csr.subject && cert.publicKey == csr.publicKey)
        #expect(cert.issuer == authority.certificate.subject)
        #expect(authority.certificate.publicKey.isValidSignature(cert.signature, for: cert))
        #expect(try cert.extensions.subjectAlternativeNames == SubjectAlternativeNames([.dnsName("n1.example")]))
        #expect(try cert.extensions.extendedKeyUsage == ExtendedKeyUsage([.serverAuth]))
        #expect(try cert.extensions.keyUsage?.digitalSignature == true)
        #expect(try cert.extensions.basicConstraints == BasicConstraints.notCertificateAuthority)
        #expect(try cert.extensions.authorityKeyIdentifier?.keyIdentifier == [1, 2, 3, 4])
        #expect(abs(cert.notValidAfter.timeIntervalSinceNow - 3600) < 60)
    }

    @Test("the cleaner: decided requests go after an hour, pending ones after a day")
    func cleaner() {
        let now = Date(timeIntervalSince1970: 2_000_000)
        var csr = CertificatesV1.CertificateSigningRequest()
        csr.metadata.creationTimestamp = Time(seconds: 2_000_000 - 7200)
        #expect(!CSRCleanerController.expired(csr, now: now), "pending for 2 hours")
        csr.metadata.creationTimestamp = Time(seconds: 2_000_000 - 90000)
        #expect(CSRCleanerController.expired(csr, now: now), "pending for over a day")
        csr.metadata.creationTimestamp = Time(seconds: 2_000_000 - 7200)
        csr.status.conditions = [
            CertificatesV1.CertificateSigningRequestCondition(
                type: "Approved", status: "True", lastUpdateTime: Time(seconds: 2_000_000 - 1800))
        ]
        #expect(!CSRCleanerController.expired(csr, now: now))
        csr.status.conditions[0].lastUpdateTime = Time(seconds: 2_000_000 - 3700)
        #expect(CSRCleanerController.expired(csr, now: now))
    }
}
