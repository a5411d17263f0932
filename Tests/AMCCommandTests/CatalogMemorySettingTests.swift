import CommandSupport
import Testing

@testable import AMCCommand

/// `serve.catalog-memory` reads `unlimited`, plain bytes, and sizes with decimal or binary units; anything else is
/// refused with the key named.
@Suite struct CatalogMemorySettingTests {
    @Test func sizesReadWithTheirUnits() throws {
        #expect(try Settings.catalogMemory("unlimited") == nil)
        #expect(try Settings.catalogMemory("1073741824") == 1 << 30)
        #expect(try Settings.catalogMemory("4GiB") == 4 << 30)
        #expect(try Settings.catalogMemory("512 MiB") == 512 << 20)
        #expect(try Settings.catalogMemory("1.5GB") == 1_500_000_000)
        #expect(try Settings.catalogMemory("64KB") == 64_000)
        #expect(try Settings.catalogMemory("100B") == 100)
    }

    @Test(arguments: ["", "0", "-1GiB", "lots", "4 GiBs", "1e30", "0.1B", "nanGB"])
    func otherTextIsRefusedNamingTheKey(text: String) {
        #expect {
            try Settings.catalogMemory(text)
        } throws: { error in
            "\(error)".contains("serve.catalog-memory")
        }
    }
}
