import Testing

@testable import ClickLog

@Suite struct RFC3339Tests {
    /// 2026-11-25T21:00:00Z (checked with Python's datetime).
    static let reference: Int64 = 1_795_640_400_000_000

    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("2026-11-25T21:00:00Z", reference),
        ("2000-01-01T00:00:00Z", 946_684_800_000_000),
        ("2000-02-29T00:00:00Z", 951_782_400_000_000),
        ("1969-12-31T23:59:59Z", -1_000_000),
        ("1969-07-20T20:17:40Z", -14_182_940_000_000),
        ("1900-03-01T00:00:00Z", -2_203_891_200_000_000),
        ("0001-01-01T00:00:00Z", -62_135_596_800_000_000),
        ("9999-12-31T23:59:59.999999Z", 253_402_300_799_999_999),
    ])
    func knownEpochValues(text: String, micros: Int64) {
        #expect(RFC3339.parseMicros(text) == micros)
    }

    @Test(arguments: [
        "2026-11-25t21:00:00z", "2026-11-25 21:00:00Z", "2026-11-25T21:00:00+00:00", "2026-11-25T21:00:00-00:00",
    ])
    func separatorAndZuluVariantsAreAccepted(text: String) {
        #expect(RFC3339.parseMicros(text) == Self.reference)
    }

    @Test(
        arguments: [
            ("2026-11-25T21:00:00+01:00", -3_600_000_000),
            ("2026-11-25T21:00:00-01:00", 3_600_000_000),
            ("2026-11-25T21:00:00+05:30", -19_800_000_000),
            ("2026-11-25T21:00:00-09:45", 35_100_000_000),
            ("2026-11-25T21:00:00+23:59", -86_340_000_000),
        ] as [(String, Int64)]
    )
    func offsetsShiftToUTC(text: String, shift: Int64) {
        #expect(RFC3339.parseMicros(text) == Self.reference + shift)
    }

    @Test func sameInstantInDifferentOffsetsIsEqual() {
        #expect(RFC3339.parseMicros("2026-11-25T22:00:00+01:00") == Self.reference)
        #expect(RFC3339.parseMicros("2026-11-25T15:30:00-05:30") == Self.reference)
        #expect(RFC3339.parseMicros("2026-11-26T00:00:00+03:00") == Self.reference)
    }

    @Test(arguments: [
        ("2026-11-25T21:00:00.5Z", Int64(500_000)),
        ("2026-11-25T21:00:00.25Z", 250_000),
        ("2026-11-25T21:00:00.123Z", 123_000),
        ("2026-11-25T21:00:00.123456Z", 123_456),
        ("2026-11-25T21:00:00.000001Z", 1),
        ("2026-11-25T21:00:00.1234567Z", 123_456),  // beyond microseconds: truncated
        ("2026-11-25T21:00:00.999999999Z", 999_999),
        ("2026-11-25T21:00:00.0Z", 0),
        ("2026-11-25T22:00:00.75+01:00", 750_000),
    ])
    func fractionalSecondsAreMicroseconds(text: String, fraction: Int64) {
        #expect(RFC3339.parseMicros(text) == Self.reference + fraction)
    }

    @Test func fractionBeforeTheEpochCountsForward() {
        #expect(RFC3339.parseMicros("1969-12-31T23:59:59.999999Z") == -1)
        #expect(RFC3339.parseMicros("1969-12-31T23:59:59.5Z") == -500_000)
    }

    @Test(arguments: ["2024-02-29T00:00:00Z", "2000-02-29T12:00:00Z", "2024-12-31T23:59:59Z", "2023-04-30T00:00:00Z"])
    func validCalendarDatesParse(text: String) {
        #expect(RFC3339.parseMicros(text) != nil)
    }

    @Test func leapDayIsTheDayAfterFebruary28() throws {
        let feb28 = try #require(RFC3339.parseMicros("2024-02-28T00:00:00Z"))
        let feb29 = try #require(RFC3339.parseMicros("2024-02-29T00:00:00Z"))
        let mar1 = try #require(RFC3339.parseMicros("2024-03-01T00:00:00Z"))
        #expect(feb29 - feb28 == 86_400_000_000)
        #expect(mar1 - feb29 == 86_400_000_000)
        #expect(feb29 == 1_709_164_800_000_000)
    }

    @Test(arguments: [
        "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "2024-02-30T00:00:00Z",
        "2024-04-31T00:00:00Z", "2024-13-01T00:00:00Z", "2024-00-10T00:00:00Z", "2024-01-00T00:00:00Z",
        "2024-01-32T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:60:00Z", "2024-01-01T00:00:61Z",
    ])
    func impossibleDatesAndTimesAreNil(text: String) {
        #expect(RFC3339.parseMicros(text) == nil)
    }

    @Test func leapSecondIsAcceptedAsTheLastSecondOfTheMinute() {
        #expect(RFC3339.parseMicros("2016-12-31T23:59:60Z") == 1_483_228_799_000_000)
        #expect(RFC3339.parseMicros("2016-12-31T23:59:60.5Z") == 1_483_228_799_500_000)
    }

    @Test(arguments: [
        "", "garbage", "2026-11-25", "2026-11-25T21:00:00", "2026-11-25T21:00Z", "2026-11-25T21:00:00.Z",
        "2026-11-25T21:00:00.", "2026-11-25T21:00:00+0100", "2026-11-25T21:00:00+01", "2026-11-25T21:00:00+01:0",
        "2026-11-25T21:00:00+01:00:00", "2026-11-25T21:00:00+24:00", "2026-11-25T21:00:00+01:60",
        "2026-11-25T21:00:00Z ", " 2026-11-25T21:00:00Z", "2026/11/25T21:00:00Z", "2026-11-25X21:00:00Z",
        "2026-11-25T21-00-00Z", "2026-11-25T21:00:00UTC", "2026-11-25T21:00:00ZZ", "+2026-11-25T21:00:00Z",
        "26-11-25T21:00:00Z", "2026-1-25T21:00:00Z", "2026-11-25T9:00:00Z", "２０２６-11-25T21:00:00Z",
        "2026-11-25T21:00:00,5Z", "2026-11-25T21:00:00 Z", "1795640400",
    ])
    func nonRFC3339TextIsNil(text: String) {
        #expect(RFC3339.parseMicros(text) == nil)
    }

    @Test(arguments: [
        (Int64(0), "1970-01-01 00:00:00.000000+00"),
        (reference, "2026-11-25 21:00:00.000000+00"),
        (1_709_210_096_789_000, "2024-02-29 12:34:56.789000+00"),
        (1, "1970-01-01 00:00:00.000001+00"),
        (-1, "1969-12-31 23:59:59.999999+00"),
        (-1_000_000, "1969-12-31 23:59:59.000000+00"),
        (-1_000_001, "1969-12-31 23:59:58.999999+00"),
        (-86_400_000_000, "1969-12-31 00:00:00.000000+00"),
        (-86_400_000_001, "1969-12-30 23:59:59.999999+00"),
        (-2_203_891_200_000_000, "1900-03-01 00:00:00.000000+00"),
        (-62_135_596_800_000_000, "0001-01-01 00:00:00.000000+00"),
        (253_402_300_799_999_999, "9999-12-31 23:59:59.999999+00"),
    ])
    func postgresTextFormatsUTC(micros: Int64, text: String) {
        #expect(RFC3339.postgresText(micros: micros) == text)
    }

    @Test(arguments: [
        Int64(0), 1, -1, 999_999, -999_999, 1_000_000, -1_000_000, -1_000_001, reference, reference + 123_456,
        -14_182_940_000_000, -14_182_939_876_544, 951_782_400_000_000, -2_203_891_200_000_001,
        -62_135_596_800_000_000, 253_402_300_799_999_999,
    ])
    func postgresTextRoundTripsThroughParse(micros: Int64) {
        // postgresText ends in "+00"; completed to "+00:00" it is RFC 3339 with a space separator.
        let text = RFC3339.postgresText(micros: micros)
        #expect(RFC3339.parseMicros(text + ":00") == micros)
    }

    @Test(arguments: [
        ("1970-01-01T00:00:00Z", "1970-01-01 00:00:00.000000+00"),
        ("2026-11-25T21:00:00.123456Z", "2026-11-25 21:00:00.123456+00"),
        ("2026-11-25T22:00:00.5+01:00", "2026-11-25 21:00:00.500000+00"),
        ("1969-12-31T23:59:59.000001Z", "1969-12-31 23:59:59.000001+00"),
        ("2024-02-29T23:59:59.5Z", "2024-02-29 23:59:59.500000+00"),
        ("2024-03-01T01:30:00+02:00", "2024-02-29 23:30:00.000000+00"),
    ])
    func parseThenFormatGivesUTCText(text: String, postgres: String) throws {
        let micros = try #require(RFC3339.parseMicros(text))
        #expect(RFC3339.postgresText(micros: micros) == postgres)
    }

    @Test(arguments: [(2024, 2, 29), (2023, 2, 28), (1900, 2, 28), (2000, 2, 29), (2023, 4, 30), (2023, 12, 31)])
    func daysInMonth(year: Int, month: Int, days: Int) {
        #expect(RFC3339.daysInMonth(year: year, month: month) == days)
    }

    @Test(arguments: [-800_000, -719_468, -1, 0, 1, 11_016, 19_782, 2_932_896])
    func civilDayConversionsAreInverse(days: Int) {
        let (year, month, day) = RFC3339.civilFromDays(days)
        #expect(RFC3339.daysFromCivil(year: year, month: month, day: day) == days)
    }
}

@Suite struct RFC3339FormatTests {
    @Test func formatsWholeSecondsWithoutAFractionAndRoundTrips() {
        #expect(RFC3339.format(micros: 1_767_225_600_000_000) == "2026-01-01T00:00:00Z")
        #expect(RFC3339.format(micros: 1_767_225_600_123_456) == "2026-01-01T00:00:00.123456Z")
        #expect(RFC3339.format(micros: 0) == "1970-01-01T00:00:00Z")
        for micros: Int64 in [-1, 951_782_400_000_001, 1_795_640_400_000_000] {
            #expect(RFC3339.parseMicros(RFC3339.format(micros: micros)) == micros)
        }
    }
}
