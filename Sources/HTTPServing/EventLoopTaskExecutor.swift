import NIOCore
import Synchronization

/// A task executor that runs jobs on one NIO event loop.
///
/// A request's task runs on its connection's event loop instead of the cooperative pool: it reads
/// the request and writes the response on the thread that owns the connection, so a request that
/// does not wait on anything crosses no threads at all, and one that waits (a store read, a batched
/// etcd call) crosses back only once. Handlers must not block waiting for work on the same loop;
/// none do (the store's own threads do blocking I/O).
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    private init(loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        loop.execute { job.runSynchronously(on: executor) }
    }

    private static let executors = Mutex<[ObjectIdentifier: EventLoopTaskExecutor]>([:])

    /// The executor of `loop` (one per loop, kept for the life of the process, as loops are).
    static func of(_ loop: any EventLoop) -> EventLoopTaskExecutor {
        let id = ObjectIdentifier(loop)
        return executors.withLock { table in
            if let e = table[id] { return e }
            let e = EventLoopTaskExecutor(loop: loop)
            table[id] = e
            return e
        }
    }
}
