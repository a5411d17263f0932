import CLibPQ
import Foundation

/// Connection-string helpers: validation, and keeping passwords out of error messages.
enum PGConnInfo {
    /// The connection parameters whose values are secrets.
    static let secretKeywords: Set<String> = ["password", "sslpassword"]

    /// Passwords (`password`, `sslpassword`) that appear in a URL or key=value string (raw and percent-decoded).
    static func secrets(in conninfo: String) -> [String] {
        var found = [String]()
        // URL form: scheme://user:password@host...
        if let schemeEnd = conninfo.range(of: "://") {
            let rest = conninfo[schemeEnd.upperBound...]
            let authority = rest.prefix { $0 != "/" && $0 != "?" }
            if let at = authority.lastIndex(of: "@") {
                let userInfo = authority[..<at]
                if let colon = userInfo.firstIndex(of: ":") {
                    let password = String(userInfo[userInfo.index(after: colon)...])
                    found.append(password)
                    if let decoded = password.removingPercentEncoding { found.append(decoded) }
                }
            }
            // ?password=... in the query string
            if let query = rest.firstIndex(of: "?") {
                for pair in rest[rest.index(after: query)...].split(separator: "&") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    if parts.count == 2, secretKeywords.contains(String(parts[0])) {
                        found.append(String(parts[1]))
                        if let decoded = String(parts[1]).removingPercentEncoding { found.append(decoded) }
                    }
                }
            }
        }
        // key=value form: password=secret or password='se cret' (also sslpassword=…)
        var searchStart = conninfo.startIndex
        while let key = conninfo.range(of: "password", range: searchStart..<conninfo.endIndex) {
            searchStart = key.upperBound
            var index = key.upperBound
            while index < conninfo.endIndex, conninfo[index] == " " { index = conninfo.index(after: index) }
            guard index < conninfo.endIndex, conninfo[index] == "=" else { continue }
            index = conninfo.index(after: index)
            while index < conninfo.endIndex, conninfo[index] == " " { index = conninfo.index(after: index) }
            var value = ""
            if index < conninfo.endIndex, conninfo[index] == "'" {
                index = conninfo.index(after: index)
                while index < conninfo.endIndex, conninfo[index] != "'" {
                    if conninfo[index] == "\\" { index = conninfo.index(after: index) }
                    if index < conninfo.endIndex {
                        value.append(conninfo[index])
                        index = conninfo.index(after: index)
                    }
                }
            } else {
                while index < conninfo.endIndex, conninfo[index] != " ", conninfo[index] != "&" {
                    value.append(conninfo[index])
                    index = conninfo.index(after: index)
                }
            }
            found.append(value)
            if let decoded = value.removingPercentEncoding { found.append(decoded) }
        }
        // Also whatever libpq itself parses as the password.
        var errorMessage: UnsafeMutablePointer<CChar>? = nil
        if let options = PQconninfoParse(conninfo, &errorMessage) {
            defer { PQconninfoFree(options) }
            var option = options
            while let keyword = option.pointee.keyword {
                if secretKeywords.contains(String(cString: keyword)), let value = option.pointee.val {
                    found.append(String(cString: value))
                }
                option += 1
            }
        }
        if let errorMessage { PQfreemem(errorMessage) }
        // Longest first, so a secret containing another is replaced whole.
        return Array(Set(found.filter { $0.count >= 1 })).sorted { $0.count > $1.count }
    }

    /// Replaces every secret in `message` by `********`.
    static func scrub(_ message: String, secrets: [String]) -> String {
        var message = message
        for secret in secrets where !secret.isEmpty {
            message = message.replacingOccurrences(of: secret, with: "********")
        }
        return message
    }

    /// Rejects malformed connection strings before connecting (a permanent error).
    static func validate(_ conninfo: String, secrets: [String]) throws {
        var errorMessage: UnsafeMutablePointer<CChar>? = nil
        if let options = PQconninfoParse(conninfo, &errorMessage) {
            PQconninfoFree(options)
            return
        }
        var message = "invalid connection string"
        if let errorMessage {
            message += ": " + scrub(PostgresError.normalise(String(cString: errorMessage)), secrets: secrets)
            PQfreemem(errorMessage)
        }
        throw PostgresError(sqlState: nil, message: message, isTransient: false)
    }

    /// Whether a failed connection attempt is worth retrying. Refused, unreachable, starting up,
    /// shutting down and "too many clients" are; bad credentials, unknown databases/roles and
    /// pg_hba rejections are not.
    static func isTransientConnectFailure(_ message: String) -> Bool {
        let permanent = [
            "password authentication failed",
            "authentication failed",
            "does not exist",
            "no pg_hba.conf entry",
            "password is required",
            "no password supplied",
            "invalid connection option",
            "invalid sslmode",
            "permission denied",
            "not permitted to log in",
        ]
        return !permanent.contains { message.contains($0) }
    }
}
