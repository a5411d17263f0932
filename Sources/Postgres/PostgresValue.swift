/// The wire form of one bound parameter.
public enum PostgresValue: Sendable, Hashable {
    /// SQL `NULL`.
    case null
    /// Text format: the type's input syntax, sent as UTF-8 (for example `"42"`, `"t"`, `"{a,b}"`).
    case text(String)
    /// Binary format: the type's `recv` representation (only `bytea` uses this here).
    case binary([UInt8])
}
