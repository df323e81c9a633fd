// libFuzzer driver for the request-body scanner (it reads untrusted bytes on the request path with
// unchecked word loads): any input must scan without a crash, a hang or an out-of-bounds read
// (AddressSanitizer is on); scanning into reused facts must give what a fresh scan gives; and a
// body the strict JSON parser accepts as an object must come out `parsed`, with the same `user`
// string, and for a body without escapes the same request facts as the tree gives (message count,
// user turns, content bytes, images, tools, response_format). Build and run with fuzz/run-body.sh
// (compiled with Sources/Rules, no SwiftPM target).

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
        // Without escapes, raw and decoded strings have the same bytes: the facts from the tree.
        if !body.contains(0x5C) {
            let expected = facts(object)
            precondition(
                fresh.messageCount == expected.messages && fresh.userTurns == expected.userTurns
                    && fresh.contentBytes == expected.contentBytes && fresh.hasImages == expected.images
                    && fresh.hasTools == expected.tools && fresh.hasResponseFormat == expected.responseFormat,
                "facts differ from the tree's: \(expected)")
        }
    }
    return 0
}

/// The request facts as the README defines them, read from the strict parser's tree: messages in
/// the root `messages` array, those whose `role` is `"user"`, the bytes of `content` strings and
/// of content parts' `text`, image parts by `type`, non-empty root `tools` or `functions` arrays,
/// and a root `response_format` key.
func facts(_ root: [(key: String, value: JSONNode)]) -> (
    messages: Int, userTurns: Int, contentBytes: Int, images: Bool, tools: Bool, responseFormat: Bool
) {
    var out = (messages: 0, userTurns: 0, contentBytes: 0, images: false, tools: false, responseFormat: false)
    for (key, value) in root {
        if key == "response_format" { out.responseFormat = true }
        if (key == "tools" || key == "functions"), let list = value.array, !list.isEmpty { out.tools = true }
        guard key == "messages", let messages = value.array else { continue }
        out.messages += messages.count
        for message in messages {
            for (k, v) in message.object ?? [] {
                if k == "role", v.string == "user" { out.userTurns += 1 }
                guard k == "content" else { continue }
                if let text = v.string { out.contentBytes += text.utf8.count }
                for part in v.array ?? [] {
                    for (pk, pv) in part.object ?? [] {
                        if pk == "type", let t = pv.string, ["image_url", "input_image", "image"].contains(t) {
                            out.images = true
                        }
                        if pk == "text", let t = pv.string { out.contentBytes += t.utf8.count }
                    }
                }
            }
        }
    }
    return out
}
