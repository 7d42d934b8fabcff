import APIMachinery

// Validation of storage.k8s.io/v1 StorageClasses, after upstream's pkg/apis/storage/validation.

extension StorageV1.StorageClass: Validated {
    public func validate() -> ErrorList {
        var errs = MetaValidation.validateObjectMeta(metadata, namespaced: false, nameRule: .dns1123Subdomain)
        if provisioner.isEmpty {
            errs.append(.required(FieldPath("provisioner")))
        } else {
            for m in NameValidation.isQualifiedName(provisioner.lowercased()) {
                errs.append(.invalid(FieldPath("provisioner"), provisioner, m))
            }
        }
        // An empty reclaimPolicy passes; a missing volumeBindingMode (defaulting sets one) does not.
        if let r = reclaimPolicy, !r.isEmpty, !["Delete", "Retain"].contains(r) {
            errs.append(.notSupported(FieldPath("reclaimPolicy"), .string(r), ["Delete", "Retain"]))
        }
        if let m = volumeBindingMode {
            if !["Immediate", "WaitForFirstConsumer"].contains(m) {
                errs.append(
                    .notSupported(FieldPath("volumeBindingMode"), .string(m), ["Immediate", "WaitForFirstConsumer"]))
            }
        } else {
            errs.append(.required(FieldPath("volumeBindingMode")))
        }
        return errs
    }

    public func validateUpdate(from old: StorageV1.StorageClass) -> ErrorList {
        var errs = MetaValidation.validateObjectMetaUpdate(metadata, old.metadata)
        if parameters != old.parameters {
            errs.append(.forbidden(FieldPath("parameters"), "updates to parameters are forbidden."))
        }
        if provisioner != old.provisioner {
            errs.append(.forbidden(FieldPath("provisioner"), "updates to provisioner are forbidden."))
        }
        if reclaimPolicy != old.reclaimPolicy {
            errs.append(.forbidden(FieldPath("reclaimPolicy"), "updates to reclaimPolicy are forbidden."))
        }
        if volumeBindingMode != old.volumeBindingMode {
            errs.append(MetaValidation.immutable(FieldPath("volumeBindingMode"), .string(volumeBindingMode ?? "")))
        }
        return errs + validate()
    }
}
