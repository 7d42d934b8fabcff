import APIMachinery
import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// The cluster's PKI in the data dir: a CA, the serving certificate and the admin client
/// certificate, made on first start and reused afterwards.
public struct ClusterCertificates: Sendable {
    public var caPEM: String
    public var caKeyPEM: String
    public var servingPEM: String
    public var servingKeyPEM: String
    public var adminPEM: String
    public var adminKeyPEM: String

    static let files = ["ca.crt", "ca.key", "serving.crt", "serving.key", "admin.crt", "admin.key"]

    /// Loads the PKI from `dir/tls`, or makes it when missing. The serving certificate is renewed
    /// when the wanted SANs change (e.g. a new advertise address).
    public static func loadOrCreate(dir: String, dnsNames: [String], ipAddresses: [String]) throws
        -> ClusterCertificates
    {
        let tlsDir = dir + "/tls"
        try FileManager.default.createDirectory(atPath: tlsDir, withIntermediateDirectories: true)
        func read(_ f: String) -> String? { try? String(contentsOfFile: tlsDir + "/" + f, encoding: .utf8) }
        func write(_ f: String, _ s: String) throws {
            let path = tlsDir + "/" + f
            try s.write(toFile: path, atomically: true, encoding: .utf8)
            if f.hasSuffix(".key") { chmod(path, 0o600) }
        }
        let caKey: P256.Signing.PrivateKey
        let caCert: Certificate
        if let ca = read("ca.crt"), let key = read("ca.key") {
            caKey = try P256.Signing.PrivateKey(pemRepresentation: key)
            caCert = try Certificate(pemEncoded: ca)
        } else {
            (caKey, caCert) = try makeCA("k8swift-ca")
            try write("ca.crt", try caCert.serializeAsPEM().pemString)
            try write("ca.key", caKey.pemRepresentation)
            for f in files.dropFirst(2) { try? FileManager.default.removeItem(atPath: tlsDir + "/" + f) }
        }
        var wantedSANs = dnsNames.map { GeneralName.dnsName($0) }
        for ip in ipAddresses {
            if let bytes = IPAddressBytes(ip) {
                wantedSANs.append(.ipAddress(ASN1OctetString(contentBytes: bytes[...])))
            }
        }
        var serving = read("serving.crt")
        var servingKey = read("serving.key")
        if let s = serving, let cert = try? Certificate(pemEncoded: s),
            let sans = try? cert.extensions.subjectAlternativeNames,
            Set(sans.map(\.description)) == Set(wantedSANs.map(\.description))
        {
            // Reuse.
        } else {
            let key = P256.Signing.PrivateKey()
            let cert = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: Certificate.PublicKey(key.publicKey),
                notValidBefore: Date().addingTimeInterval(-3600), notValidAfter: Date().addingTimeInterval(365 * 86400),
                issuer: caCert.subject, subject: try DistinguishedName { CommonName("kube-apiserver") },
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                    try ExtendedKeyUsage([.serverAuth])
                    SubjectAlternativeNames(wantedSANs)
                }, issuerPrivateKey: Certificate.PrivateKey(caKey))
            serving = try cert.serializeAsPEM().pemString
            servingKey = key.pemRepresentation
            try write("serving.crt", serving!)
            try write("serving.key", servingKey!)
        }
        var admin = read("admin.crt")
        var adminKey = read("admin.key")
        if admin == nil || adminKey == nil {
            (admin, adminKey) = try makeClient("kubernetes-admin", org: "system:masters", caKey: caKey, caCert: caCert)
            try write("admin.crt", admin!)
            try write("admin.key", adminKey!)
        }
        return ClusterCertificates(
            caPEM: try caCert.serializeAsPEM().pemString, caKeyPEM: caKey.pemRepresentation, servingPEM: serving!,
            servingKeyPEM: servingKey!, adminPEM: admin!, adminKeyPEM: adminKey!)
    }

    /// A self-signed CA valid for ten years.
    static func makeCA(_ commonName: String) throws -> (P256.Signing.PrivateKey, Certificate) {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName(commonName) }
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: Date().addingTimeInterval(-3600),
            notValidAfter: Date().addingTimeInterval(10 * 365 * 86400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
            }, issuerPrivateKey: Certificate.PrivateKey(key))
        return (key, cert)
    }

    /// A client certificate (PEM and key PEM) for `commonName`, in group `org` when given.
    static func makeClient(_ commonName: String, org: String?, caKey: P256.Signing.PrivateKey, caCert: Certificate)
        throws -> (String, String)
    {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            if let org { OrganizationName(org) }
            CommonName(commonName)
        }
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: Date().addingTimeInterval(-3600), notValidAfter: Date().addingTimeInterval(365 * 86400),
            issuer: caCert.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.clientAuth])
            }, issuerPrivateKey: Certificate.PrivateKey(caKey))
        return (try cert.serializeAsPEM().pemString, key.pemRepresentation)
    }

    /// The client certificate the API server presents to kubelets (`kube-apiserver-kubelet-client`
    /// in `system:masters`, as upstream's kubeadm makes it), signed by the cluster CA in `dir/tls`
    /// that the built-in kubelet trusts; made once.
    public static func loadOrCreateKubeletClient(dir: String) throws -> (certPEM: String, keyPEM: String) {
        let tlsDir = dir + "/tls"
        let certFile = tlsDir + "/kubelet-client.crt"
        let keyFile = tlsDir + "/kubelet-client.key"
        if let c = try? String(contentsOfFile: certFile, encoding: .utf8),
            let k = try? String(contentsOfFile: keyFile, encoding: .utf8)
        {
            return (c, k)
        }
        let caKey = try P256.Signing.PrivateKey(
            pemRepresentation: try String(contentsOfFile: tlsDir + "/ca.key", encoding: .utf8))
        let caCert = try Certificate(pemEncoded: try String(contentsOfFile: tlsDir + "/ca.crt", encoding: .utf8))
        let (cert, key) = try makeClient(
            "kube-apiserver-kubelet-client", org: "system:masters", caKey: caKey, caCert: caCert)
        try cert.write(toFile: certFile, atomically: true, encoding: .utf8)
        try key.write(toFile: keyFile, atomically: true, encoding: .utf8)
        chmod(keyFile, 0o600)
        return (cert, key)
    }

    /// The front proxy's PKI (aggregation): its own CA, and the client certificate the API server
    /// presents to extension API servers (`front-proxy-client`), made once in `dir/tls`.
    public static func loadOrCreateFrontProxy(dir: String) throws -> (caPEM: String, certPEM: String, keyPEM: String) {
        let tlsDir = dir + "/tls"
        try FileManager.default.createDirectory(atPath: tlsDir, withIntermediateDirectories: true)
        func read(_ f: String) -> String? { try? String(contentsOfFile: tlsDir + "/" + f, encoding: .utf8) }
        if let ca = read("front-proxy-ca.crt"), let cert = read("front-proxy-client.crt"),
            let key = read("front-proxy-client.key")
        {
            return (ca, cert, key)
        }
        let (caKey, caCert) = try makeCA("front-proxy-ca")
        let (cert, key) = try makeClient("front-proxy-client", org: nil, caKey: caKey, caCert: caCert)
        let caPEM = try caCert.serializeAsPEM().pemString
        for (f, text) in [
            ("front-proxy-ca.crt", caPEM), ("front-proxy-ca.key", caKey.pemRepresentation),
            ("front-proxy-client.crt", cert), ("front-proxy-client.key", key),
        ] {
            try text.write(toFile: tlsDir + "/" + f, atomically: true, encoding: .utf8)
            if f.hasSuffix(".key") { chmod(tlsDir + "/" + f, 0o600) }
        }
        return (caPEM, cert, key)
    }

    /// Writes a kubeconfig for the admin user at `path`.
    public func writeKubeconfig(path: String, server: String) throws {
        func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }
        let text = """
            apiVersion: v1
            kind: Config
            clusters:
            - cluster:
                certificate-authority-data: \(b64(caPEM))
                server: \(server)
              name: k8swift
            contexts:
            - context:
                cluster: k8swift
                user: admin
              name: k8swift
            current-context: k8swift
            preferences: {}
            users:
            - name: admin
              user:
                client-certificate-data: \(b64(adminPEM))
                client-key-data: \(b64(adminKeyPEM))

            """
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
    }
}
