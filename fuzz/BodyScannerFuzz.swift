// libFuzzer driver for the request-body scanner (it reads untrusted bytes on the request path with
// unchecked word loads): any input must scan without a crash, a hang or an out-of-bounds read
// (AddressSanitizer is on); scanning into reused facts must give what a fresh scan gives; and a
// body the strict JSON parser accepts as an object must come out `parsed`, with the same `user`
// string. Build and run with fuzz/run-body.sh (compiled with Sources/Rules, no SwiftPM target).

let paths: [[String]] = [["user"], ["metadata", "tier"], ["messages", "0", "content"], ["a", "b"]]
let scanner = BodyScanner(paths: paths, facts: true)
let primer = Array(
    #"{"user":"x","metadata":{"tier":"t"},"messages":[{"role":"user","content":"c"}],"tools":[1],"stream":true}"#
        .utf8)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let body = Array(UnsafeBufferPointer(start: data, count: size))
    let fresh = scanner.scan(body, limit: 1 << 20)
    precondition(fresh.values.count == paths.count)
    var reused = BodyFacts()
    scanner.scan(primer, limit: 1 << 20, into: &reused)
    scanner.scan(body, limit: 1 << 20, into: &reused)
    precondition(reused.values == fresh.values && reused.parsed == fresh.parsed, "reused facts differ")
    precondition(
        reused.messageCount == fresh.messageCount && reused.userTurns == fresh.userTurns
            && reused.contentBytes == fresh.contentBytes && reused.hasTools == fresh.hasTools
            && reused.hasImages == fresh.hasImages && reused.stream == fresh.stream
            && reused.model == fresh.model && reused.modelRange == fresh.modelRange, "reused facts differ")
    if !fresh.parsed { precondition(fresh.values.allSatisfy { $0 == .null }, "values from an unparsed body") }
    // The scanner nests 64 deep, the strict parser 128: compare below that.
    var depth = 0
    var deepest = 0
    for b in body
    where b == UInt8(ascii: "{") || b == UInt8(ascii: "[") || b == UInt8(ascii: "}") || b == UInt8(ascii: "]") {
        depth += (b == UInt8(ascii: "{") || b == UInt8(ascii: "[")) ? 1 : -1
        deepest = max(deepest, depth)
    }
    if deepest < 60, let node = try? JSONParser.parse(body), let object = node.object {
        precondition(fresh.parsed, "a valid JSON object was not parsed")
        let users = object.filter { $0.key == "user" }
        if users.count == 1, let u = users[0].value.string {
            precondition(fresh.values[0] == .string(ArraySlice(u.utf8)), "user differs")
        }
    }
    return 0
}
