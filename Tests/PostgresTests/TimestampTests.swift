import Foundation
import Testing

@testable import Postgres

@Suite struct TimestampTests {
    @Test func formats() {
        #expect(PGTimestamp.format(Date(timeIntervalSince1970: 0)) == "1970-01-01 00:00:00.000000+00")
        #expect(PGTimestamp.format(Date(timeIntervalSince1970: -0.5)) == "1969-12-31 23:59:59.500000+00")
        #expect(PGTimestamp.format(Date(timeIntervalSince1970: 1_715_000_000.25)) == "2024-05-06 12:53:20.250000+00")
    }

    @Test func parses() throws {
        func seconds(_ text: String) throws -> Double {
            try #require(PGTimestamp.parse(text)).timeIntervalSince1970
        }
        #expect(try seconds("1970-01-01 00:00:00+00") == 0)
        #expect(try seconds("1970-01-01 05:30:00+05:30") == 0)
        #expect(try seconds("1969-12-31 21:00:00-03") == 0)
        #expect(try seconds("1970-01-01 00:00:00.5+00") == 0.5)
        #expect(try seconds("1970-01-01 00:09:21+00:09:21") == 0)
        #expect(try seconds("1970-01-02") == 86_400)
        #expect(try seconds("1970-01-01T00:00:01") == 1)
        #expect(PGTimestamp.parse("infinity") == .distantFuture)
        #expect(PGTimestamp.parse("garbage") == nil)
        #expect(PGTimestamp.parse("2024-13-01 00:00:00+00") == nil)
        let bc = try #require(PGTimestamp.parse("0001-01-01 00:00:00+00 BC"))
        #expect(PGTimestamp.format(bc) == "0001-01-01 00:00:00.000000+00 BC")
    }

    @Test func byteaAndArrayParsers() {
        #expect(PGByteaHex.decode("\\x00ff10") == [0, 255, 16])
        #expect(PGByteaHex.decode("\\x") == [])
        #expect(PGByteaHex.decode("00ff") == nil)
        #expect(PGByteaHex.decode("\\xAbCd") == [0xAB, 0xCD])
        #expect(PGByteaHex.decode("\\x0") == nil)
        #expect(PGByteaHex.decode("\\x0g") == nil)
        #expect(PGByteaHex.decode("\\xff\u{e9}") == nil)  // two UTF-8 bytes: an even count, not digits
        let all = (0...255).map(UInt8.init)
        #expect(PGByteaHex.decode("\\x" + all.map { String(format: "%02x", $0) }.joined()) == all)
        #expect(PGArrayLiteral.decode("{}") == [])
        #expect(PGArrayLiteral.decode(#"{a,"b c","d\"e",f\\g}"#) == ["a", "b c", "d\"e", "f\\g"])
        #expect(PGArrayLiteral.decode("{a,NULL}") == nil)
        #expect(PGArrayLiteral.decode(#"{"NULL"}"#) == ["NULL"])
    }
}
