import Testing

@testable import Postgres

/// ``DatabaseURL`` shows every form of the URL with its passwords replaced, however it is printed or reflected.
@Suite struct DatabaseURLTests {
    static let forms: [(url: String, secrets: [String], shown: String)] = [
        (
            "postgresql://amc_ingest:Sup3r-Secret@db.example:5432/amc?sslmode=verify-full",
            ["Sup3r-Secret"], "postgresql://amc_ingest:********@db.example:5432/amc?sslmode=verify-full"
        ),
        ("postgres://amc:p%40ss%2Fw0rd@db/amc", ["p%40ss%2Fw0rd", "p@ss/w0rd"], "postgres://amc:********@db/amc"),
        (
            "postgresql://amc@db/amc?password=QueryPassw0rd&sslpassword=KeyPassw0rd",
            ["QueryPassw0rd", "KeyPassw0rd"], "postgresql://amc@db/amc?password=********&sslpassword=********"
        ),
        (
            "host=db user=amc password='with space secret' dbname=amc sslpassword=KeyPassw0rd",
            ["with space secret", "KeyPassw0rd"], "host=db user=amc password='********' dbname=amc sslpassword=********"
        ),
        ("postgresql://amc@db/amc", [], "postgresql://amc@db/amc"),
    ]

    /// A configuration holding a URL, as services and configuration structs do.
    struct Holder {
        var name = "ingest"
        var url: DatabaseURL
    }

    @Test(arguments: forms.indices)
    func descriptionsAndReflectionNeverShowAPassword(index: Int) {
        let (text, secrets, shown) = Self.forms[index]
        let url = DatabaseURL(text)
        var dumped = ""
        dump(url, to: &dumped)
        var dumpedHolder = ""
        dump(Holder(url: url), to: &dumpedHolder)
        let mirrored = Mirror(reflecting: url).children.map { "\($0.label ?? ""): \($0.value)" }.joined()
        let renderings = [
            String(describing: url), String(reflecting: url), "\(url)", dumped, mirrored,
            String(describing: Holder(url: url)), String(reflecting: Holder(url: url)), dumpedHolder,
            String(describing: [url]), String(describing: Optional(url)),
        ]
        for rendering in renderings {
            for secret in secrets {
                #expect(!rendering.contains(secret), "\(rendering)")
            }
        }
        #expect(url.description == shown)
        #expect(String(describing: Holder(url: url)).contains(shown))
        #expect(url.unredacted == text, "libpq still gets the URL as written")
    }
}
