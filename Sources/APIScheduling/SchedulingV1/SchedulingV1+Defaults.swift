import APIMachinery

extension SchedulingV1.PriorityClass {
    public mutating func setDefaults() {
        if preemptionPolicy == nil { preemptionPolicy = "PreemptLowerPriority" }
    }
}
