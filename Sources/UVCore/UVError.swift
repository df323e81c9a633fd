import CLibUV

/// A libuv error: a negative errno value, as libuv returns them. Errors are values, never global state.
public struct UVError: Error, Equatable, Sendable, CustomStringConvertible {
    public let code: Int32

    public init(_ code: Int32) { self.code = code }

    /// The symbolic name, e.g. `ECONNREFUSED`.
    public var name: String { String(validatingCString: uv_err_name(code)) ?? "E?" }
    public var description: String { "\(name): \(String(validatingCString: uv_strerror(code)) ?? "")" }

    public static let eof = UVError(Int32(UV_EOF.rawValue))
    public static let canceled = UVError(Int32(UV_ECANCELED.rawValue))
    public static let timedOut = UVError(Int32(UV_ETIMEDOUT.rawValue))
    public static let connectionRefused = UVError(Int32(UV_ECONNREFUSED.rawValue))
    public static let connectionReset = UVError(Int32(UV_ECONNRESET.rawValue))
    public static let again = UVError(Int32(UV_EAGAIN.rawValue))

    /// Throws when `rc` is negative.
    @inline(__always)
    static func check(_ rc: Int32) throws(UVError) {
        if rc < 0 { throw UVError(rc) }
    }
}
