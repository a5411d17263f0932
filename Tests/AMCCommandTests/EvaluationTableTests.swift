import CommandSupport
import Model
import Testing

@Suite struct EvaluationTableTests {
    /// Every architecture of the table and every baseline has a display name in `amc eval`'s tables, so no row is
    /// shown by its stored id beside named ones.
    @Test func everyArchitectureAndBaselineHasADisplayName() {
        let methods = ModelArchitectures.ids + ["click_prior", "keyword_only", "image_only", "late_fusion_fixed"]
        for method in methods {
            #expect(EvaluationTable.names[method] != nil, "\(method) has no display name")
        }
        #expect(Set(EvaluationTable.names.values).count == EvaluationTable.names.count)
    }
}
