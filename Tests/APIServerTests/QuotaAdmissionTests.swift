import APIMachinery
import Foundation
import KubernetesAPI
import Testing

@testable import APIServer

/// The ResourceQuota admission check: usage plus the request, for the names it touches, must stay
/// within status.hard; the refusal lists requested, used and limited values as upstream prints them.
@Suite("ResourceQuota admission")
struct QuotaAdmissionTests {
    func quota(hard: [String: Quantity], used: [String: Quantity]) -> CoreV1.ResourceQuota {
        var q = CoreV1.ResourceQuota()
        q.metadata.name = "compute"
        q.spec.hard = hard
        q.status.hard = hard
        q.status.used = used
        return q
    }

    @Test("within the limit passes; past it names each exceeded resource")
    func exceeds() {
        let q = quota(
            hard: ["pods": "2", "requests.cpu": "1", "requests.memory": "1Gi"],
            used: ["pods": "1", "requests.cpu": "800m", "requests.memory": "0"])
        #expect(QuotaAdmission.exceeds(q, ["pods": "1", "requests.cpu": "200m"]) == nil)
        #expect(
            QuotaAdmission.exceeds(q, ["pods": "1", "requests.cpu": "500m", "requests.memory": "512Mi"])
                == "exceeded quota: compute, requested: requests.cpu=500m, used: requests.cpu=800m, limited: requests.cpu=1"
        )
        #expect(
            QuotaAdmission.exceeds(q, ["pods": "2", "requests.cpu": "300m"])
                == "exceeded quota: compute, requested: pods=2,requests.cpu=300m, used: pods=1,requests.cpu=800m, limited: pods=2,requests.cpu=1"
        )
    }

    @Test("names the quota does not limit are ignored")
    func unlimitedNames() {
        let q = quota(hard: ["pods": "1"], used: ["pods": "0"])
        #expect(QuotaAdmission.exceeds(q, ["pods": "1", "requests.cpu": "64"]) == nil)
    }
}
