import CRI
import Foundation
import Synchronization

/// Image garbage collection as upstream's kubelet does it: when the image filesystem is at least
/// `highThresholdPercent` full, the images no container uses are removed, least recently used
/// first, until usage is back to `lowThresholdPercent`; images younger than `minimumAge` (since the
/// kubelet first saw them) and pinned images (the sandbox image) stay.
public struct ImageGCPolicy: Equatable, Sendable {
    public var highThresholdPercent = 85
    public var lowThresholdPercent = 80
    public var minimumAge: Duration = .seconds(120)

    public init() {}
}

public enum ImageGC {
    public struct Candidate: Equatable, Sendable {
        public var id: String
        public var size: UInt64
        /// When a container last used it (or when it was first seen), and when it was first seen.
        public var lastUsed: Date
        public var firstSeen: Date
        public var pinned: Bool
        public var inUse: Bool

        public init(id: String, size: UInt64, lastUsed: Date, firstSeen: Date, pinned: Bool, inUse: Bool) {
            self.id = id
            self.size = size
            self.lastUsed = lastUsed
            self.firstSeen = firstSeen
            self.pinned = pinned
            self.inUse = inUse
        }
    }

    /// The bytes to free: none below the high threshold, else down to the low one.
    public static func bytesToFree(capacity: UInt64, available: UInt64, policy: ImageGCPolicy) -> UInt64 {
        guard capacity > 0 else { return 0 }
        let used = capacity - min(available, capacity)
        guard used * 100 / capacity >= UInt64(policy.highThresholdPercent) else { return 0 }
        let target = capacity * UInt64(100 - policy.lowThresholdPercent) / 100
        return target > available ? target - available : 0
    }

    /// The images to remove, in order, to free `amount` bytes (as many as are eligible when they
    /// cannot free it all).
    public static func plan(_ images: [Candidate], amount: UInt64, now: Date, policy: ImageGCPolicy) -> [String] {
        guard amount > 0 else { return [] }
        let minAge = Double(policy.minimumAge.components.seconds)
        let eligible = images.filter {
            !$0.inUse && !$0.pinned && now.timeIntervalSince($0.firstSeen) >= minAge
        }.sorted { ($0.lastUsed, $0.firstSeen, $0.id) < ($1.lastUsed, $1.firstSeen, $1.id) }
        var freed: UInt64 = 0
        var out: [String] = []
        for image in eligible where freed < amount {
            out.append(image.id)
            freed += image.size
        }
        return out
    }
}

/// The node's image collector: every `period` it records which images containers use, checks the
/// filesystem holding the runtime's images, and removes what the policy picks.
final class ImageCollector: Sendable {
    struct Seen {
        var firstSeen: Date
        var lastUsed: Date
    }

    let runtime: any ContainerRuntime
    let imageFSPath: String
    let policy: ImageGCPolicy
    let seen = Mutex<[String: Seen]>([:])
    let log: @Sendable (String) -> Void

    init(
        runtime: any ContainerRuntime, imageFSPath: String, policy: ImageGCPolicy,
        log: @escaping @Sendable (String) -> Void
    ) {
        self.runtime = runtime
        self.imageFSPath = imageFSPath
        self.policy = policy
        self.log = log
    }

    func run(period: Duration = .seconds(300)) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: period)
            do {
                try await collect(now: Date())
            } catch {
                log("image garbage collection failed: \(error)")
            }
        }
    }

    func collect(now: Date) async throws {
        let images = try await runtime.listImages()
        let containers = try await runtime.listContainers()
        let used = Set(containers.map(\.imageRef) + containers.map(\.image.image))
        let candidates = seen.withLock { table -> [ImageGC.Candidate] in
            var next: [String: Seen] = [:]
            let list = images.map { img -> ImageGC.Candidate in
                let inUse =
                    used.contains(img.id) || img.repoTags.contains(where: used.contains)
                    || img.repoDigests.contains(where: used.contains)
                var s = table[img.id] ?? Seen(firstSeen: now, lastUsed: now)
                if inUse { s.lastUsed = now }
                next[img.id] = s
                return ImageGC.Candidate(
                    id: img.id, size: img.size, lastUsed: s.lastUsed, firstSeen: s.firstSeen, pinned: img.pinned,
                    inUse: inUse)
            }
            table = next
            return list
        }
        var fs = statvfs()
        guard statvfs(imageFSPath, &fs) == 0 else { return }
        let capacity = UInt64(fs.f_blocks) * UInt64(fs.f_frsize)
        let available = UInt64(fs.f_bavail) * UInt64(fs.f_frsize)
        let amount = ImageGC.bytesToFree(capacity: capacity, available: available, policy: policy)
        for id in ImageGC.plan(candidates, amount: amount, now: now, policy: policy) {
            var spec = Runtime_V1_ImageSpec()
            spec.image = id
            do {
                try await runtime.removeImage(spec)
                log("image garbage collection removed \(id)")
            } catch {
                log("image garbage collection could not remove \(id): \(error)")
            }
        }
    }
}
