import APIMachinery

/// Registration of DefaultPreemption.
extension PluginRegistry {
    static let preemptionFactories: [String: Factory] = [
        DefaultPreemption.name: { args, handle in
            try DefaultPreemption(args: DefaultPreemptionArgs.decode(args), handle: handle)
        }
    ]
    static let preemptionValidators: [String: ArgValidator] = [
        DefaultPreemption.name: { args, path in
            let errs = try DefaultPreemptionArgs.decode(args, path: path).validationErrors(path: path)
            // Each field error stands alone in the configuration's flattened aggregate.
            if !errs.isEmpty { throw SchedulerConfigurationError(errs.joined(separator: ", ")) }
        }
    ]
}
