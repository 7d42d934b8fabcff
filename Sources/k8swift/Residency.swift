import Foundation
import Kubelet

/// Keeps the resident set to the pages the process really uses: the kernel maps neighbouring
/// pages of the executable on each page fault ("fault-around", 64 KiB); with ~1,000 generated API
/// types spread over a large text segment, that alone would make tens of MiB resident that are
/// never executed. MADV_RANDOM on the executable's mappings turns it off.
enum Residency {
    static func adviseRandomAccess() { advise(MADV_RANDOM) }

    /// Drops the executable's clean pages touched only while starting (they fault back if used).
    static func releaseStartupPages() { advise(Int32(MADV_PAGEOUT)) }

    static func advise(_ advice: Int32) {
        guard let maps = ProcFile.read("/proc/self/maps") else { return }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        guard !exe.isEmpty else { return }
        for line in maps.split(separator: "\n") where line.hasSuffix(exe) {
            let range = line.split(separator: " ", maxSplits: 1)[0].split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16),
                let p = UnsafeMutableRawPointer(bitPattern: start)
            else { continue }
            _ = madvise(p, Int(end - start), advice)
        }
    }
}
