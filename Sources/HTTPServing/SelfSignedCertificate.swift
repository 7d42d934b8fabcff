import Crypto
import Foundation
import SwiftASN1
import X509

/// A serving certificate signed by its own key, as a kubelet makes for its HTTPS port when it is
/// given none (`<cert-dir>/kubelet.crt`, `kubelet.key`): loaded when present, else made and written.
public enum SelfSignedCertificate {
    public static func loadOrCreate(certFile: String, keyFile: String, hostname: String, ipAddresses: [String])
        throws -> (certPEM: String, keyPEM: String)
    {
        if let cert = try? String(contentsOfFile: certFile, encoding: .utf8),
            let key = try? String(contentsOfFile: keyFile, encoding: .utf8),
            let parsed = try? Certificate(pemEncoded: cert), parsed.notValidAfter > Date().addingTimeInterval(86400)
        {
            return (cert, key)
        }
        let made = try make(hostname: hostname, ipAddresses: ipAddresses)
        let dir = (certFile as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try made.certPEM.write(toFile: certFile, atomically: true, encoding: .utf8)
        try made.keyPEM.write(toFile: keyFile, atomically: true, encoding: .utf8)
        chmod(keyFile, 0o600)
        return made
    }

    /// Valid for a year, for `hostname` and the given IPs; its issuer is itself (`<host>-ca@<time>`,
    /// the naming upstream's kubelet uses).
    public static func make(hostname: String, ipAddresses: [String]) throws -> (certPEM: String, keyPEM: String) {
        let key = P256.Signing.PrivateKey()
        let now = Date()
        let issuer = try DistinguishedName { CommonName("\(hostname)-ca@\(Int(now.timeIntervalSince1970))") }
        let subject = try DistinguishedName { CommonName("\(hostname)@\(Int(now.timeIntervalSince1970))") }
        var sans: [GeneralName] = [.dnsName(hostname)]
        for ip in ipAddresses {
            if let bytes = ipBytes(ip) { sans.append(.ipAddress(ASN1OctetString(contentBytes: bytes[...]))) }
        }
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(365 * 86400),
            issuer: issuer, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(sans)
            }, issuerPrivateKey: Certificate.PrivateKey(key))
        return (try cert.serializeAsPEM().pemString, key.pemRepresentation)
    }

    /// The network-order bytes of an IPv4 or IPv6 address.
    public static func ipBytes(_ s: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, s, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, s, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}
