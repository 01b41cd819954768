using System.Text;
using Vireo.Qemu;

namespace Vireo.IntegrationTests;

/// <summary>Pools, volumes and disks against the real qemu-img and QEMU.</summary>
[Collection("vireo")]
public sealed class StorageTests(VireoFixture fx)
{
    private static ulong Field(string volInfo, string key)
    {
        var line = volInfo.Split('\n').First(l => l.StartsWith(key + ":", StringComparison.Ordinal));
        return ulong.Parse(line[(key.Length + 1)..].Trim().Split(' ')[0]);
    }

    [Fact]
    public async Task Pools_and_volumes_follow_virsh_and_qemu_img()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        // The default pool exists from the first start, active and autostarted, at DATA_DIR/images.
        Assert.Matches(@"default\s+active\s+yes", await d.OkAsync("pool-list"));
        Assert.Contains($"<path>{d.Images}</path>", await d.OkAsync("pool-dumpxml", "default"));
        Assert.True(Directory.Exists(d.Images));

        // Every preallocation mode: the allocation reported is qemu-img's, and it is what the mode means.
        var cases = new (string Format, string Mode)[] { ("raw", "off"), ("raw", "falloc"), ("raw", "full"), ("qcow2", "off"), ("qcow2", "metadata"), ("qcow2", "falloc"), ("qcow2", "full") };
        foreach (var (format, mode) in cases)
        {
            var name = $"{mode}.{format}";
            await d.OkAsync("vol-create-as", "default", name, "32M", "--format", format, "--prealloc", mode);
            var info = await d.OkAsync("vol-info", name, "--pool", "default", "--bytes");
            var img = await QemuImg.InfoAsync(Path.Combine(d.Images, name));
            Assert.Equal(img.ActualSize, Field(info, "Allocation"));
            Assert.Equal(32UL << 20, Field(info, "Capacity"));
            Assert.Equal(format, img.Format);
            if (mode is "falloc" or "full") Assert.True(img.ActualSize >= 32UL << 20, $"{name}: {img.ActualSize}");
            else Assert.True(img.ActualSize < 8UL << 20, $"{name}: {img.ActualSize}");
        }
        // virsh's --allocation: all of it means falloc; a part of a raw file is allocated, the rest sparse.
        await d.OkAsync("vol-create-as", "default", "part.raw", "64M", "--allocation", "16M");
        var part = await QemuImg.InfoAsync(Path.Combine(d.Images, "part.raw"));
        Assert.InRange(part.ActualSize, 16UL << 20, 17UL << 20);
        Assert.Equal("error: Preallocation 'metadata' needs a qcow2 volume; a raw image has no metadata (use falloc or full).\n",
            await d.FailAsync("vol-create-as", "default", "m.raw", "1M", "--prealloc", "metadata"));

        var list = await d.OkAsync("vol-list", "default", "--details");
        Assert.Matches(@"full\.qcow2\s+\S+full\.qcow2\s+file\s+qcow2\s+32\.00 MiB", list);

        // Linked clone: qcow2 on a backing volume; the base is named by the clone and protected.
        await d.OkAsync("vol-create-as", "default", "clone.qcow2", "0", "--backing-vol", "off.qcow2");
        var clone = await d.OkAsync("vol-dumpxml", "clone.qcow2", "--pool", "default");
        Assert.Contains($"<backingStore>\n    <path>{d.Images}/off.qcow2</path>\n    <format type='qcow2'/>", clone);
        Assert.Contains("<capacity unit='bytes'>33554432</capacity>", clone);
        Assert.Equal("error: Volume 'off.qcow2' is the backing image of volume 'clone.qcow2' of pool 'default'; deleting it would break it. Delete those first, or add --force.\n",
            await d.FailAsync("vol-delete", "off.qcow2", "--pool", "default"));

        // Full copy keeps the content.
        var data = Encoding.ASCII.GetBytes("vireo-volume-content");
        var src = Path.Combine(d.Root, "src.bin");
        await File.WriteAllBytesAsync(src, [.. data, .. new byte[1 << 20]]);
        await d.OkAsync("vol-create-as", "default", "up.raw", "0");
        var upload = await d.RunAsync("vol-upload", "up.raw", src, "--pool", "default");
        Assert.True(upload.ExitCode == 0, upload.ToString());
        Assert.Contains("Uploading src.bin: 1.00 MiB in", upload.Stderr);
        var copy = await d.RunAsync("vol-clone", $"{d.Images}/up.raw", "copy.raw");
        Assert.True(copy.ExitCode == 0, copy.ToString());
        var dst = Path.Combine(d.Root, "down.bin");
        await d.OkAsync("vol-download", "copy.raw", dst, "--pool", "default");
        Assert.Equal(await File.ReadAllBytesAsync(src), (await File.ReadAllBytesAsync(dst)).Take(data.Length + (1 << 20)).ToArray());
        await d.OkAsync("vol-create-from", "default", await Xml(d, "<volume><name>conv.qcow2</name><capacity>0</capacity><target><format type='qcow2'/></target></volume>"), "up.raw");
        Assert.Equal("qcow2", (await QemuImg.InfoAsync(Path.Combine(d.Images, "conv.qcow2"))).Format);

        // Resize: grow; shrink only when asked.
        await d.OkAsync("vol-resize", "off.raw", "64M", "--pool", "default");
        Assert.Equal(64UL << 20, (await QemuImg.InfoAsync(Path.Combine(d.Images, "off.raw"))).VirtualSize);
        Assert.Equal("error: Volume 'off.raw' is 67108864 bytes; 16777216 bytes would shrink it and lose what lies past the new end. Add --shrink if that is meant.\n",
            await d.FailAsync("vol-resize", "off.raw", "16M", "--pool", "default"));
        await d.OkAsync("vol-resize", "off.raw", "16M", "--pool", "default", "--shrink");
        Assert.Equal(16UL << 20, (await QemuImg.InfoAsync(Path.Combine(d.Images, "off.raw"))).VirtualSize);
        await d.OkAsync("vol-resize", "off.raw", "16M", "--pool", "default", "--delta");
        Assert.Equal(32UL << 20, (await QemuImg.InfoAsync(Path.Combine(d.Images, "off.raw"))).VirtualSize);

        // Files copied in by hand appear on refresh; an ISO is recognised as one.
        var iso = new byte[64 * 1024];
        Encoding.ASCII.GetBytes("CD001").CopyTo(iso, 0x8001);
        await File.WriteAllBytesAsync(Path.Combine(d.Images, "hand.iso"), iso);
        await d.OkAsync("pool-refresh", "default");
        Assert.Contains("Format:         iso", await d.OkAsync("vol-info", "hand.iso", "--pool", "default"));
        Assert.Equal($"{d.Images}/hand.iso\n\n", await d.OkAsync("vol-path", "hand.iso", "--pool", "default"));

        // A volume a domain uses is not deleted unless forced.
        await d.DefineAsync(d.GuestXml("user", devices: "<disk type='volume' device='disk'><source pool='default' volume='falloc.raw'/><target dev='vda' bus='virtio'/></disk>"));
        Assert.Equal("error: Volume 'falloc.raw' is used by domain 'user'; detach it first, or add --force to delete it anyway.\n",
            await d.FailAsync("vol-delete", "falloc.raw", "--pool", "default"));
        Assert.True(File.Exists(Path.Combine(d.Images, "falloc.raw")));

        // Bad input: exact errors, nothing changed.
        var before = Directory.GetFiles(d.Images).Order().ToArray();
        Assert.Equal("error: Storage pool not found: no pool with matching name 'nope'. 'vireo pool-list --all' shows the pools.\n",
            await d.FailAsync("vol-create-as", "nope", "x.raw", "1M"));
        Assert.Equal("error: Volume name 'a/b' contains '/'; a volume is a file directly in its pool.\n",
            await d.FailAsync("vol-create-as", "default", "a/b", "1M"));
        Assert.Equal("error: Volume name 'a/b' contains '/'; a volume is a file directly in its pool.\n",
            await d.FailAsync("vol-info", "a/b", "--pool", "default"));
        Assert.Equal("error: Capacity '-1G' is negative; sizes are 0 or more (to make a volume smaller use vol-resize --shrink).\n",
            await d.FailAsync("vol-create-as", "default", "neg.raw", "-1G"));
        Assert.Equal("error: Storage volume 'off.raw' already exists in pool 'default' (" + d.Images + "/off.raw).\n",
            await d.FailAsync("vol-create-as", "default", "off.raw", "1M"));
        Assert.Equal("error: Storage volume not found: /etc/hostname is not a volume of an active pool. 'vireo pool-list' shows the pools; 'vireo pool-refresh POOL' picks up files copied in by hand.\n",
            await d.FailAsync("vol-info", "/etc/hostname", "--pool", "default"));
        Assert.Equal(before, Directory.GetFiles(d.Images).Order().ToArray());

        // A second pool: build, start, a path of the other pool is refused when this one is named.
        var other = Path.Combine(d.Root, "other-pool");
        await d.OkAsync("pool-define-as", "other", "dir", "--target", other);
        Assert.Equal($"error: The directory {other} of pool 'other' does not exist; create it with 'vireo pool-build other'.\n", await d.FailAsync("pool-start", "other"));
        await d.OkAsync("pool-build", "other");
        await d.OkAsync("pool-start", "other");
        await d.OkAsync("vol-create-as", "other", "o.raw", "1M");
        Assert.Equal($"error: {other}/o.raw is not in pool 'default' ({d.Images}); it belongs to pool 'other'.\n",
            await d.FailAsync("vol-info", $"{other}/o.raw", "--pool", "default"));
        Assert.Equal($"error: Pool 'default' already uses {d.Images}; one directory is one pool.\n",
            await d.FailAsync("pool-define-as", "dup", "dir", "--target", d.Images));

        // An autostart pool is started by the next daemon; active pools stay active; pool-destroy keeps files.
        await d.OkAsync("pool-destroy", "other");
        Assert.Equal("Pool other marked as autostarted\n\n", await d.OkAsync("pool-autostart", "other"));
        await d.KillAsync();
        await d.LaunchAsync();
        Assert.Matches(@"other\s+active\s+yes", await d.OkAsync("pool-list"));
        Assert.Matches(@"default\s+active\s+yes", await d.OkAsync("pool-list"));
        Assert.Contains("o.raw", await d.OkAsync("vol-list", "other"));
        Assert.Equal("error: Storage pool 'other' is still active; run 'vireo pool-destroy other' first (its files stay).\n", await d.FailAsync("pool-undefine", "other"));
        await d.OkAsync("pool-destroy", "other");
        await d.OkAsync("pool-undefine", "other");
        Assert.True(File.Exists(Path.Combine(other, "o.raw")));
        Assert.DoesNotContain("other", await d.OkAsync("pool-list", "--all"));
    }

    private static async Task<string> Xml(TestDaemon d, string xml)
    {
        var f = Path.Combine(d.Root, $"x-{Guid.NewGuid():N}.xml");
        await File.WriteAllTextAsync(f, xml);
        return f;
    }

    /// <summary>A file the guest can read as a CD: a label at the start, padded to whole 2 KiB sectors.</summary>
    private static async Task<string> Medium(TestDaemon d, string label)
    {
        var path = Path.Combine(d.Root, label + ".img");
        var bytes = new byte[256 * 1024];
        Encoding.ASCII.GetBytes(label).CopyTo(bytes, 0);
        await File.WriteAllBytesAsync(path, bytes);
        return path;
    }

    [Fact]
    public async Task Disks_of_a_running_guest_change_live_and_the_guest_sees_it()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        // A linked clone over a base holding a marker; the guest writes to the clone only.
        var baseFile = Path.Combine(d.Root, "base.bin");
        var baseBytes = new byte[32 << 20];
        Encoding.ASCII.GetBytes("BASE-MARKER").CopyTo(baseBytes, 4096);
        await File.WriteAllBytesAsync(baseFile, baseBytes);
        await d.OkAsync("vol-create-as", "default", "base.raw", "0");
        await d.OkAsync("vol-upload", "base.raw", baseFile, "--pool", "default");
        await d.OkAsync("vol-create-as", "default", "clone.qcow2", "32M", "--backing-vol", "base.raw", "--backing-vol-format", "raw");
        var one = await Medium(d, "MEDIA-ONE");
        var two = await Medium(d, "MEDIA-TWO");
        var agentPath = Path.Combine(d.Root, "g.agent");
        await d.DefineAsync(d.GuestXml("g", cmdlineExtra: "vireo.agent", devices: $"""
            <disk type='volume' device='disk'><source pool='default' volume='clone.qcow2'/><target dev='vda' bus='virtio'/></disk>
            <disk type='file' device='cdrom'><source file='{one}'/><target dev='hdc' bus='ide'/></disk>
            {GuestAgent.Device(agentPath)}
            """));
        await d.OkAsync("start", "g");
        await d.WaitForSerialAsync("g", "VIREO-GUEST-READY");
        using var agent = new GuestAgent(agentPath);

        // The volume disk reached QEMU as qcow2 (from the pool) and reads the base through the clone.
        var first = await agent.RunAsync("dd if=/dev/vda bs=1 skip=4096 count=11 2>/dev/null");
        Assert.True(first.Trim() == "BASE-MARKER", $"read '{first}' " + await agent.RunAsync("cat /sys/block/vda/size; dd if=/dev/vda bs=1 skip=4096 count=11 | od -c") + await File.ReadAllTextAsync(d.SerialLog("g")));
        await agent.RunAsync("printf CLONE-WRITE | dd of=/dev/vda bs=1 seek=4096 conv=fsync 2>/dev/null");
        Assert.Equal("CLONE-WRITE", (await agent.RunAsync("echo 3 > /proc/sys/vm/drop_caches; dd if=/dev/vda bs=1 skip=4096 count=11 2>/dev/null")).Trim());
        var onDisk = await File.ReadAllBytesAsync(Path.Combine(d.Images, "base.raw"));
        Assert.Equal("BASE-MARKER", Encoding.ASCII.GetString(onDisk, 4096, 11));

        var blk = await d.OkAsync("domblklist", "g", "--details");
        Assert.Matches($@"volume\s+disk\s+vda\s+{d.Images}/clone\.qcow2", blk);
        Assert.Matches($@"file\s+cdrom\s+hdc\s+{one}", blk);
        var info = await d.OkAsync("domblkinfo", "g", "vda");
        Assert.Contains("Capacity:       33554432", info);
        Assert.Matches(@"rd_req [1-9]", await d.OkAsync("domblkstat", "g", "vda"));
        Assert.Equal("error: Volume 'clone.qcow2' is in use by the running domain 'g'; it cannot be deleted while the guest runs.\n",
            await d.FailAsync("vol-delete", "clone.qcow2", "--pool", "default", "--force"));

        // change-media: the guest reads the new medium; eject leaves the drive empty.
        Assert.Equal("MEDIA-ONE", (await agent.RunAsync("head -c 9 /dev/sr0")).Trim());
        await d.OkAsync("change-media", "g", "hdc", two, "--update");
        Assert.Equal("MEDIA-TWO", await agent.UntilAsync("head -c 9 /dev/sr0", "MEDIA-TWO"));
        Assert.Matches($@"hdc\s+{two}", await d.OkAsync("domblklist", "g"));
        Assert.Contains(one, await d.OkAsync("dumpxml", "g", "--inactive")); // --live by default on a running guest
        await d.OkAsync("change-media", "g", "hdc", "--eject");
        var (status, _) = await agent.TryRunAsync("head -c 9 /dev/sr0");
        Assert.NotEqual(0, status);
        Assert.Matches(@"hdc\s+-", await d.OkAsync("domblklist", "g"));
        await d.OkAsync("change-media", "g", "hdc", one, "--insert");
        Assert.Equal("MEDIA-ONE", await agent.UntilAsync("head -c 9 /dev/sr0", "MEDIA-ONE"));
        Assert.Equal("error: Disk 'vda' of 'g' is a disk, not a cdrom; media can only be changed on a cdrom (use attach-disk/detach-disk for disks).\n",
            await d.FailAsync("change-media", "g", "vda", two));

        // attach-disk: a virtio volume and a SCSI disk (its controller hot-plugged too), live and persistent.
        await d.OkAsync("vol-create-as", "default", "extra.raw", "48M");
        await d.OkAsync("attach-disk", "g", "extra.raw", "vdb", "--pool", "default", "--persistent");
        Assert.Equal((48 * 2048).ToString(), await agent.UntilAsync("cat /sys/block/vdb/size", (48 * 2048).ToString()));
        Assert.Contains("<source pool='default' volume='extra.raw'/>", await d.OkAsync("dumpxml", "g", "--inactive"));
        var scsiImg = Path.Combine(d.Root, "scsi.qcow2");
        await QemuImg.CreateAsync(scsiImg, "qcow2", 24UL << 20);
        await d.OkAsync("attach-disk", "g", scsiImg, "sdb", "--subdriver", "qcow2", "--live");
        Assert.Equal((24 * 2048).ToString(), await agent.UntilAsync("cat /sys/block/sda/size", (24 * 2048).ToString()));
        Assert.DoesNotContain(scsiImg, await d.OkAsync("dumpxml", "g", "--inactive"));
        Assert.Equal("error: Domain 'g' already has a disk at target 'vdb'; pick another target (vireo domblklist g shows them).\n",
            await d.FailAsync("attach-disk", "g", scsiImg, "vdb", "--live"));

        // detach-disk: the guest lets go, the definition follows with --config.
        await d.OkAsync("detach-disk", "g", "vdb", "--persistent");
        Assert.Equal("gone", await agent.UntilAsync("[ -e /sys/block/vdb ] && echo present || echo gone", "gone"));
        await d.OkAsync("detach-disk", "g", "sdb", "--live");
        Assert.Equal("gone", await agent.UntilAsync("[ -e /sys/block/sda ] && echo present || echo gone", "gone"));
        Assert.DoesNotContain("extra.raw", await d.OkAsync("dumpxml", "g", "--inactive"));
        var afterDetach = await d.OkAsync("domblklist", "g");
        Assert.DoesNotContain("vdb", afterDetach);
        Assert.DoesNotContain("sdb", afterDetach);
        await d.OkAsync("vol-delete", "extra.raw", "--pool", "default");

        // A restarted daemon still knows the volume disk's path.
        await d.KillAsync();
        await d.LaunchAsync();
        Assert.Matches($@"vda\s+{d.Images}/clone\.qcow2", await d.OkAsync("domblklist", "g"));
        await d.OkAsync("destroy", "g");
    }

    [Fact]
    public async Task Block_jobs_resize_copy_and_commit_a_running_disk()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.OkAsync("vol-create-as", "default", "vm.raw", "32M");
        var baseImg = Path.Combine(d.Root, "base.qcow2");
        await QemuImg.CreateAsync(baseImg, "qcow2", 16UL << 20);
        var top = Path.Combine(d.Root, "top.qcow2");
        await QemuImg.CreateAsync(top, "qcow2", 16UL << 20, baseImg, "qcow2");
        var agentPath = Path.Combine(d.Root, "g.agent");
        await d.DefineAsync(d.GuestXml("g", cmdlineExtra: "vireo.agent", devices: $"""
            <disk type='volume' device='disk'><source pool='default' volume='vm.raw'/><target dev='vda' bus='virtio'/></disk>
            <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{top}'/><target dev='vdb' bus='virtio'/></disk>
            {GuestAgent.Device(agentPath)}
            """));
        await d.OkAsync("start", "g");
        await d.WaitForSerialAsync("g", "VIREO-GUEST-READY");
        using var agent = new GuestAgent(agentPath);
        await agent.RunAsync("printf BEFORE-COPY | dd of=/dev/vda bs=512 seek=8 conv=fsync 2>/dev/null");

        // blockresize grows the disk under the running guest; shrinking is refused.
        Assert.Equal("Block device 'vda' is resized\n", await d.OkAsync("blockresize", "g", "vda", "48M"));
        Assert.Equal((48 * 2048).ToString(), await agent.UntilAsync("cat /sys/block/vda/size", (48 * 2048).ToString()));
        Assert.Equal("error: Disk 'vda' is 50331648 bytes; 16777216 bytes would cut off what lies past the new end. blockresize only grows disks (vol-resize --shrink works on a stopped guest).\n",
            await d.FailAsync("blockresize", "g", "vda", "16M"));

        // blockcopy in the background, followed by blockjob, then pivoted onto the copy.
        var copy = Path.Combine(d.Root, "copy.qcow2");
        Assert.Equal("Block Copy started\n", await d.OkAsync("blockcopy", "g", "vda", copy));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        string info;
        while (!(info = await d.OkAsync("blockjob", "g", "vda", "--info")).Contains("ready") && sw.Elapsed.TotalSeconds < 60) await Task.Delay(200);
        Assert.Equal("Block Copy: [100 %] (ready to pivot or finish)\n", info);
        Assert.Equal("Successfully pivoted\n", await d.OkAsync("blockjob", "g", "vda", "--pivot"));
        Assert.Matches($@"vda\s+{copy}", await d.OkAsync("domblklist", "g"));
        Assert.Contains($"<source file='{copy}'/>", await d.OkAsync("dumpxml", "g", "--inactive"));
        await agent.RunAsync("printf AFTER-PIVOT | dd of=/dev/vda bs=512 seek=16 conv=fsync 2>/dev/null");
        var flat = Path.Combine(d.Root, "flat.raw");
        await Vireo.Host.Exec.CheckedAsync(QemuImg.Binary, ["convert", "-U", "-O", "raw", copy, flat]);
        var content = await File.ReadAllBytesAsync(flat);
        Assert.Equal("BEFORE-COPY", Encoding.ASCII.GetString(content, 8 * 512, 11));
        Assert.Equal("AFTER-PIVOT", Encoding.ASCII.GetString(content, 16 * 512, 11));
        Assert.Equal("No current block job for vda\n", await d.OkAsync("blockjob", "g", "vda", "--info"));

        // blockcopy --wait --finish: a full copy, and the guest stays where it is.
        var second = Path.Combine(d.Root, "second.raw");
        var r = await d.RunAsync("blockcopy", "g", "vda", second, "--format", "raw", "--wait", "--finish", "--verbose");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("Successfully copied\n", r.Stdout);
        Assert.Matches($@"vda\s+{copy}", await d.OkAsync("domblklist", "g"));
        Assert.Equal("AFTER-PIVOT", Encoding.ASCII.GetString(await File.ReadAllBytesAsync(second), 16 * 512, 11));
        Assert.Equal($"error: '{second}' already exists; blockcopy writes a new image (remove it, or name another file).\n",
            await d.FailAsync("blockcopy", "g", "vda", second, "--wait", "--finish"));

        // blockcommit: the top overlay of vdb goes into its base and the guest pivots onto it.
        await agent.RunAsync("printf IN-TOP | dd of=/dev/vdb bs=512 seek=8 conv=fsync 2>/dev/null");
        Assert.Equal("Successfully pivoted\n", await d.OkAsync("blockcommit", "g", "vdb", "--active", "--pivot", "--wait", "--verbose"));
        Assert.Matches($@"vdb\s+{baseImg}", await d.OkAsync("domblklist", "g"));
        Assert.True(File.Exists(top)); // kept without --delete
        await d.OkAsync("destroy", "g");
        var baseFlat = Path.Combine(d.Root, "base.raw");
        await Vireo.Host.Exec.CheckedAsync(QemuImg.Binary, ["convert", "-O", "raw", baseImg, baseFlat]);
        Assert.Equal("IN-TOP", Encoding.ASCII.GetString(await File.ReadAllBytesAsync(baseFlat), 8 * 512, 6));
        Assert.Equal("error: Domain 'g' is not running; block jobs work on a running guest (use vol-resize or vol-clone on a stopped one).\n",
            await d.FailAsync("blockresize", "g", "vda", "64M"));
    }
}
