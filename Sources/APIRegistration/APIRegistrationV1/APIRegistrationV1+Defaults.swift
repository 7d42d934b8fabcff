import APIMachinery

extension APIRegistrationV1.ServiceReference {
    public mutating func setDefaults() {
        if port == nil { port = 443 }
    }
}
