import Glibc

/// Request bytes compared with a rule's strings (path prefixes, model aliases, variant names).
///
/// Through the string's contiguous UTF-8 and `memcmp`: these run on every request, and iterating
/// a `String.UTF8View` byte by byte costs several times more.
enum RuleText {
    static func equal(_ a: UnsafeRawBufferPointer, _ s: String) -> Bool {
        let fast = s.utf8.withContiguousStorageIfAvailable { b in
            b.count == a.count && (a.isEmpty || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
        }
        return fast ?? a.elementsEqual(s.utf8)
    }

    static func equal(_ a: ArraySlice<UInt8>, _ s: String) -> Bool {
        a.withUnsafeBytes { equal($0, s) }
    }

    static func hasPrefix(_ a: ArraySlice<UInt8>, _ s: String) -> Bool {
        a.withUnsafeBytes { p in
            let fast = s.utf8.withContiguousStorageIfAvailable { b in
                b.count <= p.count && (b.isEmpty || memcmp(p.baseAddress!, b.baseAddress!, b.count) == 0)
            }
            return fast ?? p.starts(with: s.utf8)
        }
    }
}
