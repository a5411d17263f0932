/// One image of the catalog (design §3): its key, its keywords (tags) and its grid of region features.
///
/// `regions` holds `regionCount` cells of `regionDimension` floats each, row-major (cell after cell), so
/// `regions.count == regionCount * regionDimension`. ``CatalogParser`` only produces images with at least one
/// cell; ``CatalogStore`` checks the invariant before writing.
public struct CatalogImage: Sendable, Hashable {
    /// The image key, exactly as in the click log (case-sensitive, not normalised).
    public var key: String
    /// The keywords, each normalised like a query (`ClickLog.QueryNormalizer`); no empty or repeated ones,
    /// first-appearance order.
    public var keywords: [String]
    /// The region features, R × D, row-major.
    public var regions: [Float]
    /// R, the number of region cells.
    public var regionCount: Int
    /// D, the dimension of one region cell (the same for every image of a catalog).
    public var regionDimension: Int

    /// Creates an image.
    /// - Parameters:
    ///   - key: The image key.
    ///   - keywords: The (already normalised) keywords.
    ///   - regions: `regionCount * regionDimension` floats, row-major.
    ///   - regionCount: R.
    ///   - regionDimension: D.
    public init(key: String, keywords: [String], regions: [Float], regionCount: Int, regionDimension: Int) {
        self.key = key
        self.keywords = keywords
        self.regions = regions
        self.regionCount = regionCount
        self.regionDimension = regionDimension
    }

    /// The features of one region cell.
    /// - Parameter index: The cell, `0..<regionCount`.
    /// - Returns: Its `regionDimension` floats.
    public func region(_ index: Int) -> ArraySlice<Float> {
        regions[(index * regionDimension)..<((index + 1) * regionDimension)]
    }

    /// The regions as little-endian IEEE-754 binary32 bytes, row-major (the storage and `regions_b64` layout).
    public var regionBytes: [UInt8] {
        var bytes = [UInt8](repeating: 0, count: regions.count * 4)
        bytes.withUnsafeMutableBufferPointer { out in
            for (index, value) in regions.enumerated() {
                let bits = value.bitPattern
                out[4 * index] = UInt8(truncatingIfNeeded: bits)
                out[4 * index + 1] = UInt8(truncatingIfNeeded: bits >> 8)
                out[4 * index + 2] = UInt8(truncatingIfNeeded: bits >> 16)
                out[4 * index + 3] = UInt8(truncatingIfNeeded: bits >> 24)
            }
        }
        return bytes
    }
}
