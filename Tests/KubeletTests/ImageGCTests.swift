import Foundation
import Kubelet
import Testing

/// Image garbage collection with upstream's documented defaults: collection starts at 85% disk
/// usage and frees down to 80%, least recently used images first, never images in use, pinned
/// ones, or ones younger than two minutes.
@Suite("image garbage collection")
struct ImageGCTests {
    let policy = ImageGCPolicy()

    @Test("bytes to free: none below 85% used, else down to 80%")
    func thresholds() {
        #expect(ImageGC.bytesToFree(capacity: 1000, available: 160, policy: policy) == 0)  // 84% used
        #expect(ImageGC.bytesToFree(capacity: 1000, available: 150, policy: policy) == 50)  // 85% used
        #expect(ImageGC.bytesToFree(capacity: 1000, available: 50, policy: policy) == 150)  // 95% used
        #expect(ImageGC.bytesToFree(capacity: 0, available: 0, policy: policy) == 0)
    }

    @Test("least recently used first, until enough is freed; in use, pinned and young images stay")
    func plan() {
        let now = Date(timeIntervalSince1970: 10_000)
        func img(
            _ id: String, _ size: UInt64, used: Double, seen: Double = 0, pinned: Bool = false, inUse: Bool = false
        )
            -> ImageGC.Candidate
        {
            ImageGC.Candidate(
                id: id, size: size, lastUsed: Date(timeIntervalSince1970: used),
                firstSeen: Date(timeIntervalSince1970: seen), pinned: pinned, inUse: inUse)
        }
        let images = [
            img("newest", 100, used: 9000),
            img("oldest", 30, used: 1000),
            img("middle", 40, used: 5000),
            img("running", 500, used: 100, inUse: true),
            img("pause", 500, used: 50, pinned: true),
            img("young", 500, used: 60, seen: 9950),
        ]
        #expect(ImageGC.plan(images, amount: 50, now: now, policy: policy) == ["oldest", "middle"])
        #expect(ImageGC.plan(images, amount: 30, now: now, policy: policy) == ["oldest"])
        #expect(ImageGC.plan(images, amount: 10_000, now: now, policy: policy) == ["oldest", "middle", "newest"])
        #expect(ImageGC.plan(images, amount: 0, now: now, policy: policy).isEmpty)
    }
}
