import Foundation
import Testing

@testable import AMCDemo

/// The report opened in a real headless browser (Debian's `chromium`): it loads without console messages, every
/// chart is in the rendered DOM, and a screenshot is saved in the test's temporary folder.
@Suite(.timeLimit(.minutes(5)))
struct ReportBrowserTests {
    @Test func theReportLoadsWithoutConsoleErrorsAndShowsEveryChart() throws {
        let folder = try Self.temporaryFolder()
        let page = folder.appendingPathComponent("index.html")
        try DemoReportFixture.report().html().write(to: page, atomically: true, encoding: .utf8)

        let dom = try Browser.run(["--dump-dom", page.absoluteString], in: folder)
        #expect(dom.status == 0, "chromium exited \(dom.status): \(dom.errors.suffix(2000))")
        #expect(dom.consoleMessages.isEmpty, "console: \(dom.consoleMessages)")
        #expect(DemoReportFixture.charts(in: dom.output) == DemoReportFixture.expectedCharts)
        #expect(dom.output.contains("<section id=\"attention-maps\">"))

        let screenshot = folder.appendingPathComponent("report.png")
        let shot = try Browser.run(
            ["--hide-scrollbars", "--window-size=1280,4000", "--screenshot=\(screenshot.path)", page.absoluteString],
            in: folder
        )
        #expect(shot.status == 0, "chromium exited \(shot.status): \(shot.errors.suffix(2000))")
        #expect(shot.consoleMessages.isEmpty, "console: \(shot.consoleMessages)")
        let png = try Data(contentsOf: screenshot)
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "not a PNG: \(screenshot.path)")
        print("report screenshot: \(screenshot.path)")
    }

    /// The console check is not vacuous: a page whose script fails is caught.
    @Test func aFailingScriptIsAConsoleMessage() throws {
        let folder = try Self.temporaryFolder()
        let page = folder.appendingPathComponent("broken.html")
        try "<!doctype html><html><body><script>undefinedFunction();</script></body></html>"
            .write(to: page, atomically: true, encoding: .utf8)
        let result = try Browser.run(["--dump-dom", page.absoluteString], in: folder)
        #expect(result.consoleMessages.contains { $0.contains("undefinedFunction is not defined") })
    }

    private static func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("amc-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }
}

/// Headless `chromium` (installed by `Deploy/local/install-deps.sh`), one run per call.
enum Browser {
    struct Run {
        var status: Int32
        var output: String
        var errors: String

        /// The page's console messages chromium logged (`…:CONSOLE…] "message", source: …`). The report has no
        /// scripts, so any message — an error, a failed load, a refused resource — is a defect.
        var consoleMessages: [String] {
            errors.split(separator: "\n").filter { $0.contains(":CONSOLE") }.map(String.init)
        }
    }

    /// Runs chromium headless with `arguments` (as root in CI, hence `--no-sandbox`), its profile under `folder`,
    /// and waits for it with a generous deadline.
    static func run(_ arguments: [String], in folder: URL) throws -> Run {
        guard
            let executable = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: {
                FileManager.default.isExecutableFile(atPath: $0)
            })
        else {
            Issue.record("chromium is not installed: bash Deploy/local/install-deps.sh installs it")
            throw CancellationError()
        }
        let id = UUID().uuidString
        let outputFile = folder.appendingPathComponent("chromium-\(id).out")
        let errorFile = folder.appendingPathComponent("chromium-\(id).err")
        _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments =
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--enable-logging=stderr", "--v=0",
                "--user-data-dir=\(folder.appendingPathComponent("profile-\(id)").path)",
            ] + arguments
        process.standardOutput = try FileHandle(forWritingTo: outputFile)
        process.standardError = try FileHandle(forWritingTo: errorFile)
        try process.run()
        let deadline = Date().addingTimeInterval(180)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            Issue.record("chromium did not finish within 180 s")
        }
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus,
            output: (try? String(contentsOf: outputFile, encoding: .utf8)) ?? "",
            errors: (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
        )
    }
}
