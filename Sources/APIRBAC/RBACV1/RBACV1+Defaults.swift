import APIMachinery

// Defaulting hooks of rbac.authorization.k8s.io/v1, mirroring upstream's SetDefaults_* functions.

extension RBACV1.ClusterRoleBinding {
    public mutating func setDefaults() {
        if roleRef.apiGroup.isEmpty { roleRef.apiGroup = "rbac.authorization.k8s.io" }
    }
}

extension RBACV1.RoleBinding {
    public mutating func setDefaults() {
        if roleRef.apiGroup.isEmpty { roleRef.apiGroup = "rbac.authorization.k8s.io" }
    }
}

extension RBACV1.Subject {
    /// Users and groups are in the RBAC API group; service accounts in the core group.
    public mutating func setDefaults() {
        if apiGroup.isEmpty && (kind == "User" || kind == "Group") { apiGroup = "rbac.authorization.k8s.io" }
    }
}
