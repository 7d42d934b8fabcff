import Foundation
import KubernetesAPI
import Testing

/// One invalid object of a group's kind: how to break a valid object, and the errors upstream's
/// pkg/apis/<group>/validation reports for it.
///
/// Some upstream errors carry a whole struct as their value, rendered from upstream's internal
/// (unversioned) Go type, which we do not reproduce. Those cases set `structValue`, and only the
/// field path and the detail after the value are compared, written as `path | detail`.
struct GroupCase<Object: Sendable>: Sendable, CustomTestStringConvertible {
    var name: String
    var expected: [String]
    var structValue: Bool
    var mutate: @Sendable (inout Object) -> Void

    init(
        _ name: String, _ expected: [String], structValue: Bool = false,
        _ mutate: @escaping @Sendable (inout Object) -> Void
    ) {
        self.name = name
        self.expected = expected
        self.structValue = structValue
        self.mutate = mutate
    }

    var testDescription: String { name }

    func rendered(_ errs: ErrorList) -> [String] {
        structValue ? errs.map { "\($0.field) | \($0.detail)" } : errs.map(\.description)
    }
}

/// Per-kind validation of the apps, batch, networking, rbac, policy, storage, coordination,
/// discovery and scheduling groups: one broken field per case, with the field path and message
/// the upstream API server reports. Each comment names the upstream rule the case reflects.
@Suite("GroupValidation")
struct GroupValidationTests {
    static let labels = ["app": "web"]

    static func podTemplate(restartPolicy: String = "Always") -> CoreV1.PodTemplateSpec {
        var t = CoreV1.PodTemplateSpec()
        t.metadata = MetaV1.ObjectMeta(labels: labels)
        t.spec.containers = [CoreV1.Container(name: "web", image: "nginx:1.27")]
        t.spec.restartPolicy = restartPolicy
        return t
    }

    static func selector() -> MetaV1.LabelSelector { MetaV1.LabelSelector(matchLabels: labels) }

    // MARK: apps

    static func deployment() -> AppsV1.Deployment {
        var d = AppsV1.Deployment()
        d.metadata = MetaV1.ObjectMeta(name: "web", namespace: "prod")
        d.spec.replicas = 3
        d.spec.selector = selector()
        d.spec.template = podTemplate()
        d.applyDefaults()
        return d
    }

    static let deploymentCases: [GroupCase<AppsV1.Deployment>] = [
        // ValidateDeploymentSpec: replicas is a non-negative field.
        GroupCase("negative replicas", ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]) {
            $0.spec.replicas = -1
        },
        // ValidatePodTemplateSpecForReplicaSet: the selector must match the template's labels.
        GroupCase(
            "selector does not match the template labels",
            [
                "spec.template.metadata.labels: Invalid value: {\"app\":\"api\"}: `selector` does not match template `labels`"
            ]
        ) {
            $0.spec.template.metadata.labels = ["app": "api"]
        },
        // ValidateDeploymentStrategy: an unknown type is reported on the whole strategy.
        GroupCase(
            "unknown strategy type", ["spec.strategy | supported values: \"Recreate\", \"RollingUpdate\""],
            structValue: true
        ) {
            $0.spec.strategy.type = "BlueGreen"
            $0.spec.strategy.rollingUpdate = nil
        },
        // ValidateDeploymentStrategy: Recreate forbids rollingUpdate.
        GroupCase(
            "Recreate with rollingUpdate",
            ["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"]
        ) {
            $0.spec.strategy.type = "Recreate"
        },
        // ValidateRollingUpdateDeployment: maxUnavailable and maxSurge may not both be 0.
        GroupCase(
            "maxUnavailable and maxSurge both zero",
            ["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"]
        ) {
            $0.spec.strategy.rollingUpdate?.maxUnavailable = .int(0)
            $0.spec.strategy.rollingUpdate?.maxSurge = .int(0)
        },
        // ValidateDeploymentSpec: minReadySeconds is non-negative.
        GroupCase(
            "negative minReadySeconds", ["spec.minReadySeconds: Invalid value: -5: must be greater than or equal to 0"]
        ) {
            $0.spec.minReadySeconds = -5
        },
        // ValidateDeploymentSpec: revisionHistoryLimit, when set, is non-negative.
        GroupCase(
            "negative revisionHistoryLimit",
            ["spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0"]
        ) {
            $0.spec.revisionHistoryLimit = -1
        },
    ]

    static func statefulSet() -> AppsV1.StatefulSet {
        var s = AppsV1.StatefulSet()
        s.metadata = MetaV1.ObjectMeta(name: "db", namespace: "prod")
        s.spec.replicas = 3
        s.spec.serviceName = "db"
        s.spec.selector = selector()
        s.spec.template = podTemplate()
        s.applyDefaults()
        return s
    }

    static let statefulSetCases: [GroupCase<AppsV1.StatefulSet>] = [
        // ValidateStatefulSetSpec: podManagementPolicy is OrderedReady or Parallel (an Invalid error).
        GroupCase(
            "unknown podManagementPolicy",
            ["spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'"]
        ) {
            $0.spec.podManagementPolicy = "Random"
        },
        // ValidateStatefulSetSpec: replicas is non-negative.
        GroupCase("negative replicas", ["spec.replicas: Invalid value: -2: must be greater than or equal to 0"]) {
            $0.spec.replicas = -2
        },
        // ValidateStatefulSetSpec: minReadySeconds is non-negative.
        GroupCase(
            "negative minReadySeconds", ["spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0"]
        ) {
            $0.spec.minReadySeconds = -1
        },
        // validateRollingUpdateStatefulSet: partition is non-negative.
        GroupCase(
            "negative partition",
            ["spec.updateStrategy.rollingUpdate.partition: Invalid value: -1: must be greater than or equal to 0"]
        ) {
            $0.spec.updateStrategy.rollingUpdate = AppsV1.RollingUpdateStatefulSetStrategy(partition: -1)
        },
        // ValidateStatefulSetSpec: an unknown updateStrategy type is reported on the whole strategy.
        GroupCase(
            "unknown updateStrategy type", ["spec.updateStrategy | must be 'RollingUpdate' or 'OnDelete'"],
            structValue: true
        ) {
            $0.spec.updateStrategy.type = "Canary"
        },
        // ValidateStatefulSetSpec: the template's restartPolicy must be Always.
        GroupCase(
            "template restartPolicy OnFailure",
            ["spec.template.spec.restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\""]
        ) {
            $0.spec.template.spec.restartPolicy = "OnFailure"
        },
    ]

    static func daemonSet() -> AppsV1.DaemonSet {
        var d = AppsV1.DaemonSet()
        d.metadata = MetaV1.ObjectMeta(name: "agent", namespace: "kube-system")
        d.spec.selector = selector()
        d.spec.template = podTemplate()
        d.applyDefaults()
        return d
    }

    static let daemonSetCases: [GroupCase<AppsV1.DaemonSet>] = [
        // ValidateDaemonSetSpec: minReadySeconds is non-negative.
        GroupCase(
            "negative minReadySeconds", ["spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0"]
        ) {
            $0.spec.minReadySeconds = -1
        },
        // ValidateDaemonSetSpec: revisionHistoryLimit, when set, is non-negative.
        GroupCase(
            "negative revisionHistoryLimit",
            ["spec.revisionHistoryLimit: Invalid value: -3: must be greater than or equal to 0"]
        ) {
            $0.spec.revisionHistoryLimit = -3
        },
        // ValidateDaemonSetUpdateStrategy: an unknown type is reported on the whole strategy.
        GroupCase(
            "unknown updateStrategy type", ["spec.updateStrategy | supported values: \"RollingUpdate\", \"OnDelete\""],
            structValue: true
        ) {
            $0.spec.updateStrategy.type = "Surge"
            $0.spec.updateStrategy.rollingUpdate = nil
        },
        // ValidateRollingUpdateDaemonSet: one of maxUnavailable and maxSurge must be non-zero.
        GroupCase(
            "maxUnavailable and maxSurge both zero",
            ["spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"]
        ) {
            $0.spec.updateStrategy.rollingUpdate?.maxUnavailable = .int(0)
            $0.spec.updateStrategy.rollingUpdate?.maxSurge = .int(0)
        },
        // ValidateRollingUpdateDaemonSet: and not both.
        GroupCase(
            "maxUnavailable and maxSurge both non-zero",
            [
                "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when maxUnavailable is non-zero"
            ]
        ) {
            $0.spec.updateStrategy.rollingUpdate?.maxUnavailable = .int(1)
            $0.spec.updateStrategy.rollingUpdate?.maxSurge = .int(1)
        },
        // ValidateDaemonSetSpec: the template may not set activeDeadlineSeconds.
        GroupCase(
            "template activeDeadlineSeconds",
            ["spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in DaemonSet is not Supported"]
        ) {
            $0.spec.template.spec.activeDeadlineSeconds = 30
        },
    ]

    static func replicaSet() -> AppsV1.ReplicaSet {
        var r = AppsV1.ReplicaSet()
        r.metadata = MetaV1.ObjectMeta(name: "web-5d8f", namespace: "prod")
        r.spec.replicas = 2
        r.spec.selector = selector()
        r.spec.template = podTemplate()
        r.applyDefaults()
        return r
    }

    static let replicaSetCases: [GroupCase<AppsV1.ReplicaSet>] = [
        // ValidateReplicaSetSpec: replicas is non-negative.
        GroupCase("negative replicas", ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]) {
            $0.spec.replicas = -1
        },
        // ValidateReplicaSetSpec: minReadySeconds is non-negative.
        GroupCase(
            "negative minReadySeconds", ["spec.minReadySeconds: Invalid value: -7: must be greater than or equal to 0"]
        ) {
            $0.spec.minReadySeconds = -7
        },
        // ValidatePodTemplateSpecForReplicaSet: the selector must match the template's labels.
        GroupCase(
            "selector does not match the template labels",
            [
                "spec.template.metadata.labels: Invalid value: {\"tier\":\"db\"}: `selector` does not match template `labels`"
            ]
        ) {
            $0.spec.template.metadata.labels = ["tier": "db"]
        },
        // ValidatePodTemplateSpecForReplicaSet: the template's restartPolicy must be Always.
        GroupCase(
            "template restartPolicy Never",
            ["spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""]
        ) {
            $0.spec.template.spec.restartPolicy = "Never"
        },
    ]

    @Test("a valid Deployment, StatefulSet, DaemonSet and ReplicaSet have no errors")
    func validApps() {
        #expect(Self.deployment().validate().map(\.description) == [])
        #expect(Self.statefulSet().validate().map(\.description) == [])
        #expect(Self.daemonSet().validate().map(\.description) == [])
        #expect(Self.replicaSet().validate().map(\.description) == [])
    }

    @Test("an invalid Deployment gets upstream's errors", arguments: deploymentCases)
    func invalidDeployment(_ c: GroupCase<AppsV1.Deployment>) {
        var o = Self.deployment()
        c.mutate(&o)
        #expect(c.rendered(o.validate()) == c.expected)
    }

    @Test("an invalid StatefulSet gets upstream's errors", arguments: statefulSetCases)
    func invalidStatefulSet(_ c: GroupCase<AppsV1.StatefulSet>) {
        var o = Self.statefulSet()
        c.mutate(&o)
        #expect(c.rendered(o.validate()) == c.expected)
    }

    @Test("an invalid DaemonSet gets upstream's errors", arguments: daemonSetCases)
    func invalidDaemonSet(_ c: GroupCase<AppsV1.DaemonSet>) {
        var o = Self.daemonSet()
        c.mutate(&o)
        #expect(c.rendered(o.validate()) == c.expected)
    }

    @Test("an invalid ReplicaSet gets upstream's errors", arguments: replicaSetCases)
    func invalidReplicaSet(_ c: GroupCase<AppsV1.ReplicaSet>) {
        var o = Self.replicaSet()
        c.mutate(&o)
        #expect(c.rendered(o.validate()) == c.expected)
    }

    // MARK: batch

    static func job() -> BatchV1.Job {
        var j = BatchV1.Job()
        j.metadata = MetaV1.ObjectMeta(name: "pi", namespace: "prod")
        j.spec.selector = selector()
        j.spec.template = podTemplate(restartPolicy: "Never")
        j.applyDefaults()
        return j
    }

    static let jobCases: [GroupCase<BatchV1.Job>] = [
        // validateJobSpec: parallelism is non-negative.
        GroupCase("negative parallelism", ["spec.parallelism: Invalid value: -1: must be greater than or equal to 0"]) {
            $0.spec.parallelism = -1
        },
        // validateJobSpec: completions is non-negative.
        GroupCase("negative completions", ["spec.completions: Invalid value: -2: must be greater than or equal to 0"]) {
            $0.spec.completions = -2
        },
        // validateJobSpec: backoffLimit is non-negative.
        GroupCase("negative backoffLimit", ["spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0"])
        {
            $0.spec.backoffLimit = -1
        },
        // validateJobSpec: activeDeadlineSeconds is non-negative (zero passes).
        GroupCase(
            "negative activeDeadlineSeconds",
            ["spec.activeDeadlineSeconds: Invalid value: -1: must be greater than or equal to 0"]
        ) {
            $0.spec.activeDeadlineSeconds = -1
        },
        // validateJobSpec: Always (the pod default) is reported as a missing restart policy.
        GroupCase(
            "template restartPolicy Always",
            ["spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""]
        ) {
            $0.spec.template.spec.restartPolicy = "Always"
        },
        // ValidateJobSpec: a Job needs a selector (generated on create unless manualSelector).
        GroupCase("no selector", ["spec.selector: Required value"]) { $0.spec.selector = nil },
        // ValidateJobSpec: the selector must match the template's labels.
        GroupCase(
            "selector does not match the template labels",
            [
                "spec.template.metadata.labels: Invalid value: {\"job\":\"other\"}: `selector` does not match template `labels`"
            ]
        ) {
            $0.spec.template.metadata.labels = ["job": "other"]
        },
    ]

    static func cronJob() -> BatchV1.CronJob {
        var c = BatchV1.CronJob()
        c.metadata = MetaV1.ObjectMeta(name: "nightly", namespace: "prod")
        c.spec.schedule = "*/5 * * * *"
        c.spec.jobTemplate.spec.template = podTemplate(restartPolicy: "OnFailure")
        c.applyDefaults()
        return c
    }

    static let cronJobCases: [GroupCase<BatchV1.CronJob>] = [
        // validateCronJobSpec: the schedule is required.
        GroupCase("empty schedule", ["spec.schedule: Required value"]) { $0.spec.schedule = "" },
        // validateScheduleFormat: the cron parser's own error.
        GroupCase(
            "four-field schedule",
            ["spec.schedule: Invalid value: \"* * * *\": expected exactly 5 fields, found 4: [* * * *]"]
        ) {
            $0.spec.schedule = "* * * *"
        },
        // validateScheduleFormat: a time zone belongs in spec.timeZone.
        GroupCase(
            "TZ in the schedule",
            [
                "spec.schedule: Invalid value: \"TZ=UTC 0 * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
            ]
        ) {
            $0.spec.schedule = "TZ=UTC 0 * * * *"
        },
        // validateConcurrencyPolicy: Allow, Forbid or Replace.
        GroupCase(
            "unknown concurrencyPolicy",
            [
                "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\""
            ]
        ) {
            $0.spec.concurrencyPolicy = "Sometimes"
        },
        // validateConcurrencyPolicy: an empty policy is missing.
        GroupCase("empty concurrencyPolicy", ["spec.concurrencyPolicy: Required value"]) {
            $0.spec.concurrencyPolicy = ""
        },
        // validateCronJobSpec: startingDeadlineSeconds is non-negative.
        GroupCase(
            "negative startingDeadlineSeconds",
            ["spec.startingDeadlineSeconds: Invalid value: -10: must be greater than or equal to 0"]
        ) {
            $0.spec.startingDeadlineSeconds = -10
        },
        // ValidateJobTemplateSpec: the job template's selector is generated, so it may not be set.
        GroupCase(
            "job template with a selector", ["spec.jobTemplate.spec.selector | `selector` will be auto-generated"],
            structValue: true
        ) {
            $0.spec.jobTemplate.spec.selector = GroupValidationTests.selector()
        },
        // ValidateJobTemplateSpec: the job template's restart policy follows the Job rule.
        GroupCase(
            "job template restartPolicy Always",
            [
                "spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""
            ]
        ) {
            $0.spec.jobTemplate.spec.template.spec.restartPolicy = "Always"
        },
    ]

    @Test("a valid Job and CronJob have no errors")
    func validBatch() {
        #expect(Self.job().validate().map(\.description) == [])
        #expect(Self.cronJob().validate().map(\.description) == [])
        var zeroDeadline = Self.job()
        zeroDeadline.spec.activeDeadlineSeconds = 0
        #expect(zeroDeadline.validate().map(\.description) == [])
    }

    @Test("an invalid Job gets upstream's errors", arguments: jobCases)
    func invalidJob(_ c: GroupCase<BatchV1.Job>) {
        var o = Self.job()
        c.mutate(&o)
        #expect(c.rendered(o.validate()) == c.expected)
    }

    @Test("an invalid CronJob gets upstream's errors", arguments: cronJobCases)
    func invalidCronJob(_ c: GroupCase<BatchV1.CronJob>) {
        var o = Self.cronJob()
        c.mutate(&o)
        #expect(c.rendered(o.validate()) == c.expected)
    }

    // MARK: networking

    static func networkPolicy() -> NetworkingV1.NetworkPolicy {
        var n = NetworkingV1.NetworkPolicy()
        n.metadata = MetaV1.ObjectMeta(name: "web", namespace: "prod")
        n.spec.podSelector = selector()
        var port = NetworkingV1.NetworkPolicyPort()
        port.protocol = "TCP"
        port.port = .int(8080)
        var from = NetworkingV1.NetworkPolicyPeer()
        from.podSelector = MetaV1.LabelSelector(matchLabels: ["app": "frontend"])
        var ingress = NetworkingV1.NetworkPolicyIngressRule()
        ingress.ports = [port]
        ingress.from = [from]
        var block = NetworkingV1.IPBlock()
        block.cidr = "10.0.0.0/8"
        var to = NetworkingV1.NetworkPolicyPeer()
        to.ipBlock = block
        var egress = NetworkingV1.NetworkPolicyEgressRule()
        egress.to = [to]
        n.spec.ingress = [ingress]
        n.spec.egress = [egress]
        n.spec.policyTypes = ["Ingress", "Egress"]
        n.applyDefaults()
        return n
    }

    static let networkPolicyCases: [GroupCase<NetworkingV1.NetworkPolicy>] = [
        // ValidateNetworkPolicyPort: TCP, UDP or SCTP, listed in that order.
        GroupCase(
            "unknown port protocol",
            [
                "spec.ingress[0].ports[0].protocol: Unsupported value: \"ICMP\": supported values: \"TCP\", \"UDP\", \"SCTP\""
            ]
        ) {
            $0.spec.ingress[0].ports[0].protocol = "ICMP"
        },
        // ValidateNetworkPolicyPort: a numeric port is a valid port number.
        GroupCase(
            "port zero", ["spec.ingress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"]
        ) {
            $0.spec.ingress[0].ports[0].port = .int(0)
        },
        // ValidateNetworkPolicyPort: a named port is a valid port name.
        GroupCase(
            "port name too long",
            [
                "spec.ingress[0].ports[0].port: Invalid value: \"a-very-long-port-name\": must be no more than 15 characters"
            ]
        ) {
            $0.spec.ingress[0].ports[0].port = .string("a-very-long-port-name")
        },
        // ValidateNetworkPolicySpec: policyTypes are Ingress or Egress.
        GroupCase(
            "unknown policy type",
            ["spec.policyTypes[1]: Unsupported value: \"Sideways\": supported values: \"Ingress\", \"Egress\""]
        ) {
            $0.spec.policyTypes = ["Ingress", "Sideways"]
        },
        // ValidateNetworkPolicyPeer: an ipBlock peer stands alone.
        GroupCase(
            "ipBlock with a pod selector",
            ["spec.egress[0].to[0]: Forbidden: may not specify both ipBlock and another peer"]
        ) {
            $0.spec.egress[0].to[0].podSelector = MetaV1.LabelSelector(matchLabels: ["app": "db"])
        },
        // ValidateNetworkPolicyPeer: a peer names something.
        GroupCase("empty peer", ["spec.ingress[0].from[0]: Required value: must specify a peer"]) {
            $0.spec.ingress[0].from[0] = NetworkingV1.NetworkPolicyPeer()
        },
    ]

    static func ingressClass() -> NetworkingV1.IngressClass {
        var c = NetworkingV1.IngressClass()
        c.metadata = MetaV1.ObjectMeta(name: "nginx")
        c.spec.controller = "k8s.io/ingress-nginx"
        c.applyDefaults()
        return c
    }

    static let ingressClassCases: [GroupCase<NetworkingV1.IngressClass>] = [
        // validateIngressClassSpec via IsDomainPrefixedPath: the controller is required.
        GroupCase("empty controller", ["spec.controller: Required value"]) { $0.spec.controller = "" },
        // IsDomainPrefixedPath: a domain, a slash, then a path.
        GroupCase(
            "controller without a domain",
            ["spec.controller: Invalid value: \"nginx\": must be a domain-prefixed path (such as \"acme.io/foo\")"]
        ) {
            $0.spec.controller = "nginx"
        },
        // validateIngressClassSpec: at most 250 bytes.
        GroupCase("controller too long", ["spec.controller: Too long: may not be more than 250 bytes"]) {
            $0.spec.controller = "example.com/" + String(repeating: "c", count: 239)
        },
    ]

    @Test("a valid NetworkPolicy and IngressClass have no errors")
    func validNetworking() {
        #expect(Self.networkPolicy().validate().map(\.description) == [])
        #expect(Self.ingressClass().validate().map(\.description) == [])
    }

    @Test("an invalid NetworkPolicy gets upstream's errors", arguments: networkPolicyCases)
    func invalidNetworkPolicy(_ c: GroupCase<NetworkingV1.NetworkPolicy>) {
        var o = Self.networkPolicy()
        c.mutate(&o)
        #expect(c.rendered(o.validate()) == c.expected)
    }

    @Test("an invalid IngressClass gets upstream's errors", arguments: ingressClassCases)
    func invalidIngressClass(_ c: GroupCase<NetworkingV1.IngressClass>) {
        var o = Self.ingressClass()
        c.mutate(&o)
        #expect(c.rendered(o.validate()) == c.expected)
    }

    @Test("an IngressClass's controller may not change")
    func ingressClassControllerImmutable() {
        let old = Self.ingressClass()
        var new = old
        new.spec.controller = "example.com/other"
        #expect(
            new.validateUpdate(from: old).map(\.description) == [
                "spec.controller: Invalid value: \"example.com/other\": field is immutable"
            ])
    }

    // MARK: rbac

    static func role() -> RBACV1.Role {
        var r = RBACV1.Role()
        r.metadata = MetaV1.ObjectMeta(name: "pod-reader", namespace: "prod")
        var rule = RBACV1.PolicyRule()
        rule.verbs = ["get", "list"]
        rule.apiGroups = [""]
        rule.resources = ["pods"]
        r.rules = [rule]
        r.applyDefaults()
        return r
    }

    static let roleCases: [GroupCase<RBACV1.Role>] = [
        // validatePolicyRule: verbs are required.
        GroupCase("no verbs", ["rules[0].verbs: Required value: verbs must contain at least one value"]) {
            $0.rules[0].verbs = []
        },
        // validatePolicyRule: resource rules need an API group.
        GroupCase(
            "no apiGroups", ["rules[0].apiGroups: Required value: resource rules must supply at least one api group"]
        ) {
            $0.rules[0].apiGroups = []
        },
        // validatePolicyRule: resource rules need a resource.
        GroupCase(
            "no resources", ["rules[0].resources: Required value: resource rules must supply at least one resource"]
        ) {
            $0.rules[0].resources = []
        },
        // validatePolicyRule: a namespaced role has no non-resource URLs.
        GroupCase(
            "non-resource URL in a Role",
            [
                "rules[0].nonResourceURLs: Invalid value: [\"/healthz\"]: namespaced rules cannot apply to non-resource URLs"
            ]
        ) {
            $0.rules[0].apiGroups = []
            $0.rules[0].resources = []
            $0.rules[0].nonResourceURLs = ["/healthz"]
        },
    ]

    static func roleBinding() -> RBACV1.RoleBinding {
        var b = RBACV1.RoleBinding()
        b.metadata = MetaV1.ObjectMeta(name: "read-pods", namespace: "prod")
        b.roleRef = RBACV1.RoleRef()
        b.roleRef.apiGroup = "rbac.authorization.k8s.io"
        b.roleRef.kind = "Role"
        b.roleRef.name = "pod-reader"
        var user = RBACV1.Subject()
        user.kind = "User"
        user.apiGroup = "rbac.authorization.k8s.io"
        user.name = "alice"
        var sa = RBACV1.Subject()
        sa.kind = "ServiceAccount"
        sa.name = "ci"
        sa.namespace = "prod"
        b.subjects = [user, sa]
        b.applyDefaults()
        return b
    }

    static let roleBindingCases: [GroupCase<RBACV1.RoleBinding>] = [
        // ValidateRoleBinding: roleRef.kind is Role or ClusterRole.
        GroupCase(
            "roleRef kind Group",
            ["roleRef.kind: Unsupported value: \"Group\": supported values: \"Role\", \"ClusterRole\""]
        ) {
            $0.roleRef.kind = "Group"
        },
        // ValidateRoleBinding: roleRef.apiGroup is the RBAC group.
        GroupCase(
            "roleRef without apiGroup",
            ["roleRef.apiGroup: Unsupported value: \"\": supported values: \"rbac.authorization.k8s.io\""]
        ) {
            $0.roleRef.apiGroup = ""
        },
        // validateRoleBindingSubject: ServiceAccount, User or Group.
        GroupCase(
            "unknown subject kind",
            [
                "subjects[0].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\""
            ]
        ) {
            $0.subjects[0].kind = "Robot"
        },
        // validateRoleBindingSubject: a User needs a name (reported twice, as upstream does).
        GroupCase(
            "user without a name",
            ["subjects[0].name: Required value", "subjects[0].name: Invalid value: \"\": user name cannot be empty"]
        ) {
            $0.subjects[0].name = ""
        },
        // validateRoleBindingSubject: a ServiceAccount subject has the core (empty) API group.
        GroupCase(
            "service account with an apiGroup",
            ["subjects[1].apiGroup: Unsupported value: \"rbac.authorization.k8s.io\": supported values: \"\""]
        ) {
            $0.subjects[1].apiGroup = "rbac.authorization.k8s.io"
        },
    ]

    @Test("a valid Role and RoleBinding have no errors")
    func validRBAC() {
        #expect(Self.role().validate().map(\.description) == [])
        #expect(Self.roleBinding().validate().map(\.description) == [])
    }

    @Test("an invalid Role gets upstream's errors", arguments: roleCases)
    func invalidRole(_ c: GroupCase<RBACV1.Role>) {
        var o = Self.role()
        c.mutate(&o)
        #expect(c.rendered(o.validate()) == c.expected)
    }

    @Test("an invalid RoleBinding gets upstream's errors", arguments: roleBindingCases)
    func invalidRoleBinding(_ c: GroupCase<RBACV1.RoleBinding>) {
        var o = Self.roleBinding()
        c.mutate(&o)
        #expect(c.rendered(o.validate()) == c.expected)
    }

    /// ValidateRoleBindingUpdate: roleRef is immutable (the value is upstream's internal struct).
    @Test("a RoleBinding's roleRef may not change")
    func roleRefImmutable() {
        let old = Self.roleBinding()
        var new = old
        new.roleRef.name = "pod-writer"
        #expect(
            new.validateUpdate(from: old).map { "\($0.field) | \($0.detail)" } == ["roleRef | cannot change roleRef"])
    }

    /// ValidateClusterRoleBinding: only ClusterRoles, and service accounts need a namespace.
    @Test("a ClusterRoleBinding binds a ClusterRole, and its service accounts name a namespace")
    func clusterRoleBinding() {
        var b = RBACV1.ClusterRoleBinding()
        b.metadata = MetaV1.ObjectMeta(name: "read-all")
        b.roleRef.apiGroup = "rbac.authorization.k8s.io"
        b.roleRef.kind = "Role"
        b.roleRef.name = "reader"
        var sa = RBACV1.Subject()
        sa.kind = "ServiceAccount"
        sa.name = "ci"
        b.subjects = [sa]
        #expect(
            b.validate().map(\.description) == [
                "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\"",
                "subjects[0].namespace: Required value",
            ])
    }

    // MARK: policy

    static func pdb() -> PolicyV1.PodDisruptionBudget {
        var p = PolicyV1.PodDisruptionBudget()
        p.metadata = MetaV1.ObjectMeta(name: "web", namespace: "prod")
        p.spec.minAvailable = .int(2)
        p.spec.selector = selector()
        p.applyDefaults()
        return p
    }

    static let pdbCases: [GroupCase<PolicyV1.PodDisruptionBudget>] = [
        // ValidatePodDisruptionBudgetSpec: not both (reported on the whole spec).
        GroupCase(
            "minAvailable and maxUnavailable both set", ["spec | minAvailable and maxUnavailable cannot be both set"],
            structValue: true
        ) {
            $0.spec.maxUnavailable = .int(1)
        },
        // ValidatePositiveIntOrPercent: an int amount is non-negative.
        GroupCase(
            "negative minAvailable", ["spec.minAvailable: Invalid value: -1: must be greater than or equal to 0"]
        ) {
            $0.spec.minAvailable = .int(-1)
        },
        // IsNotMoreThan100Percent.
        GroupCase(
            "maxUnavailable above 100%", ["spec.maxUnavailable: Invalid value: \"150%\": must not be greater than 100%"]
        ) {
            $0.spec.minAvailable = nil
            $0.spec.maxUnavailable = .string("150%")
        },
        // ValidatePositiveIntOrPercent via IsValidPercent.
        GroupCase(
            "minAvailable not a percent",
            [
                "spec.minAvailable: Invalid value: \"half\": a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
            ]
        ) {
            $0.spec.minAvailable = .string("half")
        },
    ]

    @Test("a valid PodDisruptionBudget has no errors")
    func validPDB() { #expect(Self.pdb().validate().map(\.description) == []) }

    @Test("an invalid PodDisruptionBudget gets upstream's errors", arguments: pdbCases)
    func invalidPDB(_ c: GroupCase<PolicyV1.PodDisruptionBudget>) {
        var o = Self.pdb()
        c.mutate(&o)
        #expect(c.rendered(o.validate()) == c.expected)
    }

    // MARK: storage

    static func storageClass() -> StorageV1.StorageClass {
        var s = StorageV1.StorageClass()
        s.metadata = MetaV1.ObjectMeta(name: "gp3")
        s.provisioner = "ebs.csi.aws.com"
        s.reclaimPolicy = "Retain"
        s.volumeBindingMode = "WaitForFirstConsumer"
        s.applyDefaults()
        return s
    }

    static let storageClassCases: [GroupCase<StorageV1.StorageClass>] = [
        // validateProvisioner: required.
        GroupCase("no provisioner", ["provisioner: Required value"]) { $0.provisioner = "" },
        // validateReclaimPolicy: Delete or Retain.
        GroupCase(
            "reclaimPolicy Recycle",
            ["reclaimPolicy: Unsupported value: \"Recycle\": supported values: \"Delete\", \"Retain\""]
        ) {
            $0.reclaimPolicy = "Recycle"
        },
        // validateVolumeBindingMode: Immediate or WaitForFirstConsumer.
        GroupCase(
            "unknown volumeBindingMode",
            [
                "volumeBindingMode: Unsupported value: \"Later\": supported values: \"Immediate\", \"WaitForFirstConsumer\""
            ]
        ) {
            $0.volumeBindingMode = "Later"
        },
        // validateVolumeBindingMode: required (defaulting always sets it).
        GroupCase("no volumeBindingMode", ["volumeBindingMode: Required value"]) { $0.volumeBindingMode = nil },
    ]

    @Test("a valid StorageClass has no errors, and an empty reclaimPolicy passes")
    func validStorageClass() {
        #expect(Self.storageClass().validate().map(\.description) == [])
        var empty = Self.storageClass()
        empty.reclaimPolicy = ""
        #expect(empty.validate().map(\.description) == [])
    }

    @Test("an invalid StorageClass gets upstream's errors", arguments: storageClassCases)
    func invalidStorageClass(_ c: GroupCase<StorageV1.StorageClass>) {
        var o = Self.storageClass()
        c.mutate(&o)
        #expect(c.rendered(o.validate()) == c.expected)
    }

    // MARK: coordination

    static func lease() -> CoordinationV1.Lease {
        var l = CoordinationV1.Lease()
        l.metadata = MetaV1.ObjectMeta(name: "kube-scheduler", namespace: "kube-system")
        l.spec.holderIdentity = "node-1_5f2c"
        l.spec.leaseDurationSeconds = 15
        l.spec.leaseTransitions = 3
        l.applyDefaults()
        return l
    }

    static let leaseCases: [GroupCase<CoordinationV1.Lease>] = [
        // ValidateLeaseSpec: leaseDurationSeconds, when set, is greater than 0.
        GroupCase("zero leaseDurationSeconds", ["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"])
        {
            $0.spec.leaseDurationSeconds = 0
        },
        GroupCase(
            "negative leaseDurationSeconds", ["spec.leaseDurationSeconds: Invalid value: -10: must be greater than 0"]
        ) {
            $0.spec.leaseDurationSeconds = -10
        },
        // ValidateLeaseSpec: leaseTransitions, when set, is non-negative.
        GroupCase(
            "negative leaseTransitions",
            ["spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0"]
        ) {
            $0.spec.leaseTransitions = -1
        },
        // ValidateLeaseSpec: a preferred holder needs a strategy.
        GroupCase(
            "preferredHolder without strategy",
            ["spec.preferredHolder: Forbidden: may only be specified if `strategy` is defined"]
        ) {
            $0.spec.preferredHolder = "node-2"
        },
        // ValidateCoordinatedLeaseStrategy: an unprefixed strategy is a Kubernetes-defined one
        // (upstream's path repeats "strategy").
        GroupCase(
            "unknown strategy",
            ["spec.strategy.strategy: Unsupported value: \"Newest\": supported values: \"OldestEmulationVersion\""]
        ) {
            $0.spec.strategy = "Newest"
        },
    ]

    /// Upstream has no rule on holderIdentity: an empty or absent holder is a released lease.
    @Test("a valid Lease has no errors, with or without a holder")
    func validLease() {
        #expect(Self.lease().validate().map(\.description) == [])
        var released = Self.lease()
        released.spec.holderIdentity = nil
        #expect(released.validate().map(\.description) == [])
        released.spec.holderIdentity = ""
        #expect(released.validate().map(\.description) == [])
    }

    @Test("an invalid Lease gets upstream's errors", arguments: leaseCases)
    func invalidLease(_ c: GroupCase<CoordinationV1.Lease>) {
        var o = Self.lease()
        c.mutate(&o)
        #expect(c.rendered(o.validate()) == c.expected)
    }

    // MARK: discovery

    static func endpointSlice() -> DiscoveryV1.EndpointSlice {
        var e = DiscoveryV1.EndpointSlice()
        e.metadata = MetaV1.ObjectMeta(name: "web-abc12", namespace: "prod")
        e.addressType = "IPv4"
        var ep = DiscoveryV1.Endpoint()
        ep.addresses = ["10.0.0.1"]
        e.endpoints = [ep]
        var port = DiscoveryV1.EndpointPort()
        port.name = "http"
        port.port = 80
        e.ports = [port]
        e.applyDefaults()
        return e
    }

    static func port(_ name: String) -> DiscoveryV1.EndpointPort {
        var p = DiscoveryV1.EndpointPort()
        p.name = name
        p.protocol = "TCP"
        p.port = 80
        return p
    }

    static let endpointSliceCases: [GroupCase<DiscoveryV1.EndpointSlice>] = [
        // validateAddressType: supported types, sorted.
        GroupCase(
            "unknown addressType",
            ["addressType: Unsupported value: \"IP\": supported values: \"FQDN\", \"IPv4\", \"IPv6\""]
        ) {
            $0.addressType = "IP"
        },
        // validateAddressType: required.
        GroupCase("empty addressType", ["addressType: Required value"]) { $0.addressType = "" },
        // validateEndpoints: at most 1000 endpoints, and nothing more is checked past that.
        GroupCase("too many endpoints", ["endpoints: Too many: 1001: must have at most 1000 items"]) {
            $0.endpoints = Array(repeating: $0.endpoints[0], count: 1001)
        },
        // validateEndpoints: an endpoint has an address.
        GroupCase(
            "endpoint without addresses", ["endpoints[0].addresses: Required value: must contain at least 1 address"]
        ) {
            $0.endpoints[0].addresses = []
        },
        // validateEndpoints: an IPv4 slice holds IPv4 addresses.
        GroupCase(
            "bad IPv4 address",
            ["endpoints[0].addresses[0]: Invalid value: \"10.0.0.256\": must be a valid IPv4 address"]
        ) {
            $0.endpoints[0].addresses = ["10.0.0.256"]
        },
        // validatePorts: at most 100 ports.
        GroupCase("too many ports", ["ports: Too many: 101: must have at most 100 items"]) {
            $0.ports = (0...100).map { GroupValidationTests.port("p\($0)") }
        },
        // validatePorts: a port name is a DNS-1123 label.
        GroupCase(
            "upper-case port name",
            [
                "ports[0].name: Invalid value: \"HTTP\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            ]
        ) {
            $0.ports[0].name = "HTTP"
        },
        // validatePorts: port names are unique.
        GroupCase("duplicate port name", ["ports[1].name: Duplicate value: \"http\""]) {
            $0.ports.append(GroupValidationTests.port("http"))
        },
    ]

    @Test("a valid EndpointSlice has no errors")
    func validEndpointSlice() { #expect(Self.endpointSlice().validate().map(\.description) == []) }

    @Test("an invalid EndpointSlice gets upstream's errors", arguments: endpointSliceCases)
    func invalidEndpointSlice(_ c: GroupCase<DiscoveryV1.EndpointSlice>) {
        var o = Self.endpointSlice()
        c.mutate(&o)
        #expect(c.rendered(o.validate()) == c.expected)
    }

    // MARK: scheduling

    static func priorityClass() -> SchedulingV1.PriorityClass {
        var p = SchedulingV1.PriorityClass()
        p.metadata = MetaV1.ObjectMeta(name: "high")
        p.value = 1000
        p.preemptionPolicy = "PreemptLowerPriority"
        p.applyDefaults()
        return p
    }

    static let priorityClassCases: [GroupCase<SchedulingV1.PriorityClass>] = [
        // ValidatePriorityClass: user classes stay at or below HighestUserDefinablePriority.
        GroupCase(
            "value above the user maximum",
            ["value: Forbidden: maximum allowed value of a user defined priority is 1000000000"]
        ) {
            $0.value = 1_000_000_001
        },
        // ValidatePriorityClass + IsKnownSystemPriorityClass: the system- prefix is reserved.
        GroupCase(
            "unknown system- name",
            [
                "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-custom is not a known system priority class"
            ]
        ) {
            $0.metadata.name = "system-custom"
        },
        // IsKnownSystemPriorityClass: a system class keeps its value.
        GroupCase(
            "system class with another value",
            [
                "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: value of system-node-critical PriorityClass must be 2000001000"
            ]
        ) {
            $0.metadata.name = "system-node-critical"
        },
        // ValidatePreemptionPolicy: Never or PreemptLowerPriority.
        GroupCase(
            "unknown preemptionPolicy",
            ["preemptionPolicy: Unsupported value: \"Always\": supported values: \"Never\", \"PreemptLowerPriority\""]
        ) {
            $0.preemptionPolicy = "Always"
        },
    ]

    @Test("a valid PriorityClass and the built-in system classes have no errors")
    func validPriorityClass() {
        #expect(Self.priorityClass().validate().map(\.description) == [])
        var system = Self.priorityClass()
        system.metadata.name = "system-cluster-critical"
        system.value = 2_000_000_000
        #expect(system.validate().map(\.description) == [])
    }

    @Test("an invalid PriorityClass gets upstream's errors", arguments: priorityClassCases)
    func invalidPriorityClass(_ c: GroupCase<SchedulingV1.PriorityClass>) {
        var o = Self.priorityClass()
        c.mutate(&o)
        #expect(c.rendered(o.validate()) == c.expected)
    }

    /// ValidatePriorityClassUpdate: the value may not change.
    @Test("a PriorityClass's value may not change")
    func priorityClassValueImmutable() {
        let old = Self.priorityClass()
        var new = old
        new.value = 2000
        #expect(
            new.validateUpdate(from: old).map(\.description) == ["value: Forbidden: may not be changed in an update."])
    }
}
