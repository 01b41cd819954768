namespace Vireo.Tests;

/// <summary>
/// Golden files live in tests/Vireo.Tests/Golden. Set VIREO_REGENERATE_GOLDEN=1 to rewrite the
/// expected files from the current output; review the diff (git diff) before committing.
/// </summary>
internal static class GoldenFiles
{
    public static string SourceDir
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Vireo.sln"))) dir = dir.Parent;
            return Path.Combine(dir?.FullName ?? throw new InvalidOperationException("Vireo.sln not found above the test directory"), "tests", "Vireo.Tests", "Golden");
        }
    }

    public static IEnumerable<object[]> Inputs() =>
        Directory.EnumerateFiles(Path.Combine(AppContext.BaseDirectory, "Golden"), "*.xml")
            .Where(f => !f.EndsWith(".out.xml", StringComparison.Ordinal))
            .Select(f => new object[] { Path.GetFileNameWithoutExtension(f) })
            .OrderBy(x => (string)x[0]);

    public static string Read(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", name));

    public static void Check(string name, string actual)
    {
        var expectedPath = Path.Combine(AppContext.BaseDirectory, "Golden", name);
        if (Environment.GetEnvironmentVariable("VIREO_REGENERATE_GOLDEN") == "1")
        {
            File.WriteAllText(Path.Combine(SourceDir, name), actual);
            return;
        }
        Assert.True(File.Exists(expectedPath), $"Golden file {name} is missing; run the tests with VIREO_REGENERATE_GOLDEN=1 and review it.");
        Assert.Equal(File.ReadAllText(expectedPath), actual);
    }
}
