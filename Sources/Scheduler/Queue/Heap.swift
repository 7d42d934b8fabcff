/// A binary heap keyed by an id, with removal and update by id (the queue's active and backoff
/// sub-queues, upstream's `heap.Heap`).
struct KeyedHeap<Element> {
    var items: [Element] = []
    var position: [String: Int] = [:]
    let key: (Element) -> String
    let less: (Element, Element) -> Bool

    init(key: @escaping (Element) -> String, less: @escaping (Element, Element) -> Bool) {
        self.key = key
        self.less = less
    }

    var count: Int { items.count }
    var isEmpty: Bool { items.isEmpty }
    var first: Element? { items.first }
    func contains(_ id: String) -> Bool { position[id] != nil }
    func get(_ id: String) -> Element? { position[id].map { items[$0] } }

    /// Inserts, or replaces and re-sorts an element with the same id.
    mutating func upsert(_ e: Element) {
        let id = key(e)
        if let i = position[id] {
            items[i] = e
            fix(i)
        } else {
            items.append(e)
            position[id] = items.count - 1
            up(items.count - 1)
        }
    }

    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        return remove(at: 0)
    }

    @discardableResult
    mutating func remove(_ id: String) -> Element? {
        guard let i = position[id] else { return nil }
        return remove(at: i)
    }

    mutating func remove(at i: Int) -> Element {
        let e = items[i]
        let last = items.count - 1
        if i != last {
            items.swapAt(i, last)
            position[key(items[i])] = i
        }
        items.removeLast()
        position[key(e)] = nil
        if i < items.count { fix(i) }
        return e
    }

    mutating func fix(_ i: Int) {
        if !down(i) { up(i) }
    }

    mutating func up(_ j: Int) {
        var j = j
        while j > 0 {
            let p = (j - 1) / 2
            guard less(items[j], items[p]) else { break }
            swap(j, p)
            j = p
        }
    }

    @discardableResult
    mutating func down(_ i0: Int) -> Bool {
        var i = i0
        let n = items.count
        while true {
            let l = 2 * i + 1
            if l >= n { break }
            var m = l
            if l + 1 < n && less(items[l + 1], items[l]) { m = l + 1 }
            guard less(items[m], items[i]) else { break }
            swap(i, m)
            i = m
        }
        return i > i0
    }

    mutating func swap(_ a: Int, _ b: Int) {
        items.swapAt(a, b)
        position[key(items[a])] = a
        position[key(items[b])] = b
    }
}
