using Vireo.Host;
using Vireo.Qemu;

namespace Vireo.IntegrationTests;

/// <summary>The real qemu-img: what the storage layer will build volumes with.</summary>
public sealed class QemuImgTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("vireo-img-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("raw", "off", false)]
    [InlineData("raw", "falloc", true)]
    [InlineData("raw", "full", true)]
    [InlineData("qcow2", "off", false)]
    [InlineData("qcow2", "metadata", false)]
    [InlineData("qcow2", "falloc", true)]
    [InlineData("qcow2", "full", true)]
    public async Task Every_preallocation_mode_gives_the_allocation_qemu_img_reports(string format, string mode, bool allocated)
    {
        var path = Path.Combine(_dir, $"v.{format}");
        await QemuImg.CreateAsync(path, format, 16UL << 20, preallocation: mode);
        var info = await QemuImg.InfoAsync(path);
        Assert.Equal((format, 16UL << 20), (info.Format, info.VirtualSize));
        if (allocated) Assert.True(info.ActualSize >= 16UL << 20, $"{format}/{mode}: {info.ActualSize} bytes allocated");
        else Assert.True(info.ActualSize < 4UL << 20, $"{format}/{mode}: {info.ActualSize} bytes allocated");
    }

    [Fact]
    public async Task Resize_grows_and_shrinks_only_when_told()
    {
        var path = Path.Combine(_dir, "r.qcow2");
        await QemuImg.CreateAsync(path, "qcow2", 16UL << 20);
        await QemuImg.ResizeAsync(path, "qcow2", 32UL << 20);
        Assert.Equal(32UL << 20, (await QemuImg.InfoAsync(path)).VirtualSize);
        var e = await Assert.ThrowsAsync<CommandException>(() => QemuImg.ResizeAsync(path, "qcow2", 8UL << 20));
        Assert.Contains("--shrink", e.Message);
        Assert.Equal(32UL << 20, (await QemuImg.InfoAsync(path)).VirtualSize);
        await QemuImg.ResizeAsync(path, "qcow2", 8UL << 20, shrink: true);
        Assert.Equal(8UL << 20, (await QemuImg.InfoAsync(path)).VirtualSize);
    }

    [Fact]
    public async Task Convert_copies_content_across_formats_and_reports_progress()
    {
        var src = Path.Combine(_dir, "src.raw");
        await File.WriteAllBytesAsync(src, Enumerable.Range(0, 4 << 20).Select(i => (byte)(i % 251)).ToArray());
        var dst = Path.Combine(_dir, "dst.qcow2");
        var seen = new List<double>();
        await QemuImg.ConvertAsync(src, "raw", dst, "qcow2", new SyncProgress(seen.Add));
        Assert.Equal("qcow2", (await QemuImg.InfoAsync(dst)).Format);
        Assert.Contains(100.0, seen);
        var back = Path.Combine(_dir, "back.raw");
        await QemuImg.ConvertAsync(dst, "qcow2", back, "raw");
        Assert.Equal(await File.ReadAllBytesAsync(src), await File.ReadAllBytesAsync(back));
        var e = await Assert.ThrowsAsync<CommandException>(() => QemuImg.ConvertAsync(Path.Combine(_dir, "missing.vmdk"), "vmdk", back, "raw"));
        Assert.Contains("missing.vmdk", e.Message);
    }

    private sealed class SyncProgress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }
}
