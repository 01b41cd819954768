using System.Diagnostics;
using System.Text;
using Vireo.Host;

namespace Vireo.Tests;

public class IsoTests
{
    private static byte[] Build(string label, params IsoFile[] files)
    {
        var ms = new MemoryStream();
        Iso9660.Write(ms, label, files, new DateTime(2026, 11, 22, 8, 0, 0, DateTimeKind.Utc));
        return ms.ToArray();
    }

    [Fact]
    public void Written_files_read_back_by_their_real_names()
    {
        var big = new byte[5000];
        new Random(7).NextBytes(big);
        var iso = Build("cidata",
            IsoFile.FromText("user-data", "#cloud-config\nhostname: a\n"),
            IsoFile.FromText("meta-data", "instance-id: x\n"),
            IsoFile.FromBytes("install.amd/vmlinuz", big),
            IsoFile.FromBytes("install.amd/gtk/initrd.gz", [1, 2, 3]),
            IsoFile.FromBytes("empty", []));
        Assert.Equal(0, iso.Length % 2048);
        var img = Iso9660.Image.Open(new MemoryStream(iso));
        Assert.True(img.HasJoliet);
        Assert.Equal("cidata", img.Label);
        Assert.Equal("#cloud-config\nhostname: a\n", Encoding.UTF8.GetString(img.ReadFile("user-data")));
        Assert.Equal("instance-id: x\n", Encoding.UTF8.GetString(img.ReadFile("/meta-data")));
        Assert.Equal(big, img.ReadFile("install.amd/vmlinuz"));
        Assert.Equal(new byte[] { 1, 2, 3 }, img.ReadFile("INSTALL.AMD/GTK/initrd.gz"));
        Assert.Empty(img.ReadFile("empty"));
        Assert.Equal(["empty", "install.amd", "meta-data", "user-data"], img.List("/").Select(e => e.Name).OrderBy(n => n, StringComparer.Ordinal));
        Assert.Null(img.Find("nope"));
        Assert.Throws<FileNotFoundException>(() => img.ReadFile("install.amd/nope"));
    }

    [Fact]
    public void Directory_spanning_sectors_keeps_every_record()
    {
        // 120 files: the root directory needs several sectors and records must not cross one.
        var files = Enumerable.Range(0, 120).Select(i => IsoFile.FromText($"file-with-a-longish-name-{i:D3}.txt", $"n{i}")).ToArray();
        var img = Iso9660.Image.Open(new MemoryStream(Build("many", files)));
        Assert.Equal(120, img.List("").Count);
        Assert.Equal("n77", Encoding.UTF8.GetString(img.ReadFile("file-with-a-longish-name-077.txt")));
    }

    [Fact]
    public void Not_an_iso_is_named()
    {
        var e = Assert.Throws<InvalidDataException>(() => Iso9660.Image.Open(new MemoryStream(new byte[40000])));
        Assert.Equal("not an ISO 9660 image (no volume descriptor 'CD001' at sector 16)", e.Message);
    }

    [Fact]
    public void Duplicate_paths_are_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => Build("x", IsoFile.FromText("a", "1"), IsoFile.FromText("a", "2")));
        Assert.Equal("ISO file path 'a' is given twice.", e.Message);
    }

    [Fact]
    public void Blkid_sees_an_iso9660_volume_with_the_label()
    {
        // util-linux's probe is an independent reader of the descriptors.
        var path = Path.Combine(Path.GetTempPath(), $"vireo-iso-{Guid.NewGuid():N}.iso");
        try
        {
            File.WriteAllBytes(path, Build("cidata", IsoFile.FromText("user-data", "x")));
            var psi = new ProcessStartInfo("blkid", ["-p", "-o", "export", path]) { RedirectStandardOutput = true };
            using var p = Process.Start(psi)!;
            var output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            Assert.Contains("TYPE=iso9660", output);
            Assert.Contains("LABEL=cidata", output);
            Assert.Contains("BLOCK_SIZE=2048", output);
        }
        finally { File.Delete(path); }
    }
}
