namespace Vireo.IntegrationTests;

/// <summary>vireo install (first layer: options, new pool volumes, define, start, --print-xml, --dry-run).</summary>
[Collection("vireo")]
public sealed class InstallTests(VireoFixture fx)
{
    [Fact]
    public async Task Install_makes_the_disk_defines_and_starts_the_domain()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var boot = $"kernel={fx.GuestDir}/vmlinuz,initrd={fx.GuestDir}/initrd.img,kernel_args=console=ttyS0 quiet panic=-1";
        var r = await d.RunAsync("install", "--name", "inst", "--os-variant", "generic", "--memory", "128", "--boot", boot,
            "--disk", "pool=default,size=0.03", "--network", "none", "--noautoconsole");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("Allocating 'inst.qcow2' (30.72 MiB) in pool 'default'", r.Stdout);
        Assert.Contains("Domain creation completed.", r.Stdout);
        Assert.StartsWith("running", await d.StateAsync("inst"));
        Assert.Matches($@"sda\s+{d.Images}/inst\.qcow2", await d.OkAsync("domblklist", "inst"));

        // --print-xml is what define takes, unchanged; --dry-run makes nothing.
        var xml = await d.OkAsync("install", "--name", "printed", "--os-variant", "debian12", "--import", "--disk", "vol=default/inst.qcow2", "--print-xml");
        Assert.Contains("<source pool='default' volume='inst.qcow2'/>", xml);
        await d.DefineAsync(xml);
        Assert.Contains("printed", await d.OkAsync("list", "--all", "--name"));
        Assert.Equal("Dry run completed successfully\n", await d.OkAsync("install", "--name", "dry", "--import", "--disk", "pool=default,size=1", "--os-variant", "generic", "--dry-run"));
        Assert.DoesNotContain("dry", await d.OkAsync("vol-list", "default"));

        // Bad options: exact errors, nothing made.
        Assert.Equal("error: Unknown --os-variant 'debain12'; close names: debian12, debian11 (or 'generic').\n",
            await d.FailAsync("install", "--name", "x", "--os-variant", "debain12", "--import"));
        Assert.Equal("error: Domain 'inst' already exists; pick another --name (or 'vireo undefine inst' first).\n",
            await d.FailAsync("install", "--name", "inst", "--os-variant", "generic", "--import", "--disk", "pool=default,size=0.01"));
        Assert.DoesNotContain("inst-", await d.OkAsync("vol-list", "default"));
    }
}

/// <summary>--import of a cloud image: a linked clone in a pool, grown to --disk size.</summary>
[Collection("vireo")]
public sealed class CloudImageTests(VireoFixture fx)
{
    [Fact]
    public async Task Import_makes_a_grown_linked_clone_of_the_cloud_image()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        // The "cloud image": a 32 MiB qcow2 holding a marker, put into the default pool.
        var raw = Path.Combine(d.Root, "base.raw");
        await using (var f = File.Create(raw)) { f.SetLength(32 << 20); await f.WriteAsync("CLOUD-IMAGE"u8.ToArray()); }
        await d.OkAsync("vol-create-as", "default", "cloud.qcow2", "32M", "--format", "qcow2");
        var img = Path.Combine(d.Images, "cloud.qcow2");
        var conv = System.Diagnostics.Process.Start("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, img])!;
        await conv.WaitForExitAsync();
        Assert.Equal(0, conv.ExitCode);
        var agent = Path.Combine(d.Root, "vm.agent");
        var r = await d.RunAsync("install", "--name", "vm", "--import", "--os-variant", "generic", "--memory", "128", "--network", "none",
            "--disk", $"pool=default,size=0.0625,bus=virtio,backing_store={img}",
            "--boot", $"kernel={fx.GuestDir}/vmlinuz,initrd={fx.GuestDir}/initrd.img,kernel_args=console=ttyS0 quiet panic=-1 vireo.agent",
            "--serial", $"pty,log.file={d.SerialLog("vm")}", "--serial", $"unix,path={agent},mode=bind", "--noautoconsole");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains($"Allocating 'vm.qcow2' (64.00 MiB) in pool 'default', a linked clone of {img}", r.Stdout);
        Assert.Contains($"<path>{img}</path>", await d.OkAsync("vol-dumpxml", "--pool", "default", "vm.qcow2"));
        await d.WaitForSerialAsync("vm", "VIREO-GUEST-READY");
        Assert.Contains("VIREO-GUEST: disk vda 67108864 bytes ro=0", await File.ReadAllTextAsync(d.SerialLog("vm")));
        using (var ga = new GuestAgent(agent))
        {
            Assert.Equal("CLOUD-IMAGE", await ga.RunAsync("dd if=/dev/vda bs=11 count=1 2>/dev/null"));
            await ga.RunAsync("printf CHANGED | dd of=/dev/vda conv=notrunc 2>/dev/null; sync");
        }
        await d.OkAsync("destroy", "vm");
        // The guest's write is in its clone; the cloud image is untouched and protected.
        Assert.Equal("CLOUD-IMAGE", await QemuIoRead(img));
        Assert.StartsWith("error: Volume 'cloud.qcow2' is the backing image of", await d.FailAsync("vol-delete", "--pool", "default", "cloud.qcow2"));
        Assert.Equal("error: --disk size='0' is not a size in GiB, like size=20.\n",
            await d.FailAsync("install", "--name", "x", "--import", "--os-variant", "generic", "--disk", $"pool=default,size=0,backing_store={img}"));
        Assert.Equal("error: --disk backing_store= makes a qcow2 linked clone; format=raw cannot have a backing image.\n",
            await d.FailAsync("install", "--name", "x", "--import", "--os-variant", "generic", "--disk", $"pool=default,format=raw,backing_store={img}"));
    }

    private static async Task<string> QemuIoRead(string qcow2)
    {
        var tmp = Path.Combine(Path.GetDirectoryName(qcow2)!, "..", "head.raw");
        var p = System.Diagnostics.Process.Start("qemu-img", ["dd", "-f", "qcow2", "-O", "raw", $"if={qcow2}", $"of={tmp}", "bs=11", "count=1"])!;
        await p.WaitForExitAsync();
        Assert.Equal(0, p.ExitCode);
        return (await File.ReadAllTextAsync(tmp))[..11];
    }
}

/// <summary>vireo install's first-run media: a cloud-init seed and an installer booted with --location.</summary>
[Collection("vireo")]
public sealed class InstallFirstRunTests(VireoFixture fx)
{
    private string Boot => $"kernel={fx.GuestDir}/vmlinuz,initrd={fx.GuestDir}/initrd.img,kernel_args=console=ttyS0 quiet panic=-1 vireo.agent";

    [Fact]
    public async Task Cloud_init_seed_is_read_by_the_guest_and_removed_after_the_first_run()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var userData = Path.Combine(d.Root, "user-data");
        await File.WriteAllTextAsync(userData, "#cloud-config\nruncmd:\n  - echo seed-line-7f3a\n");
        var metaData = Path.Combine(d.Root, "meta-data");
        await File.WriteAllTextAsync(metaData, "instance-id: ci-1\nlocal-hostname: seeded-host\n");
        var key = Path.Combine(d.Root, "id.pub");
        await File.WriteAllTextAsync(key, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestKey user@host\n");
        var agent = Path.Combine(d.Root, "ci.agent");

        var r = await d.RunAsync("install", "--name", "ci", "--os-variant", "generic", "--memory", "128", "--boot", Boot, "--network", "none",
            "--cloud-init", $"user-data={userData},meta-data={metaData}",
            "--serial", $"pty,log.file={d.SerialLog("ci")}", "--serial", $"unix,path={agent},mode=bind", "--noautoconsole");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("Made the cloud-init seed 'ci-cidata.iso' (user-data, meta-data) in pool 'default'; it is removed after the first run", r.Stdout);
        // The generated-password variant, with an SSH key, beside it.
        r = await d.RunAsync("install", "--name", "ci2", "--os-variant", "generic", "--memory", "128", "--boot", Boot, "--network", "none",
            "--cloud-init", $"root-password-generate=on,ssh-key={key}", "--serial", $"pty,log.file={d.SerialLog("ci2")}", "--noautoconsole");
        Assert.True(r.ExitCode == 0, r.ToString());
        var password = System.Text.RegularExpressions.Regex.Match(r.Stdout, @"Generated password for the first boot \(root; it must be changed at the first login\): (\S{16})\n").Groups[1].Value;
        Assert.Equal(16, password.Length);

        await d.WaitForSerialAsync("ci", "VIREO-GUEST-READY");
        var log = await File.ReadAllTextAsync(d.SerialLog("ci"));
        Assert.Contains("VIREO-GUEST: cidata on /dev/sr0", log);
        Assert.Contains("VIREO-CIDATA:   - echo seed-line-7f3a", log);
        using (var ga = new GuestAgent(agent))
        {
            Assert.Equal("seeded-host\n", await ga.RunAsync("hostname"));
            // The volume label, straight from the primary volume descriptor (sector 16, offset 40).
            Assert.Equal("cidata", await ga.RunAsync("dd if=/dev/sr0 bs=2048 skip=16 count=1 2>/dev/null | dd bs=1 skip=40 count=32 2>/dev/null | tr -d ' '"));
        }
        await d.WaitForSerialAsync("ci2", "VIREO-GUEST-READY");
        log = await File.ReadAllTextAsync(d.SerialLog("ci2"));
        Assert.Contains($"VIREO-CIDATA:     root:{password}", log);
        Assert.Contains("VIREO-CIDATA:       - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestKey user@host", log);
        Assert.Contains("VIREO-CIDATA:   - [ touch, /etc/cloud/cloud-init.disabled ]", log);

        // While the first run goes on, the seed is in the definition and the pool.
        Assert.Contains("<source pool='default' volume='ci-cidata.iso'/>", await d.OkAsync("dumpxml", "ci", "--inactive"));
        Assert.Contains("ci-cidata.iso", await d.OkAsync("vol-list", "default"));
        await d.OkAsync("destroy", "ci");
        var after = await d.OkAsync("dumpxml", "ci", "--inactive");
        Assert.DoesNotContain("cidata", after);
        Assert.DoesNotContain("firstBoot", after);
        Assert.DoesNotContain("<disk", after);
        await WaitAsync(async () => !(await d.OkAsync("vol-list", "default")).Contains("ci-cidata.iso"));
        Assert.Contains("ci2-cidata.iso", await d.OkAsync("vol-list", "default"));

        // The next boot has no seed.
        await d.OkAsync("start", "ci");
        await d.WaitForSerialAsync("ci", "VIREO-GUEST-READY");
        Assert.DoesNotContain("cidata", await File.ReadAllTextAsync(d.SerialLog("ci")));
        await d.OkAsync("destroy", "ci");

        // ci2's first run ends while the daemon is down (killed): the next daemon finishes the job.
        var qemu2 = d.QemuPids()["ci2"];
        await d.KillAsync();
        System.Diagnostics.Process.GetProcessById(qemu2).Kill();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (TestDaemon.Alive(qemu2) && sw.Elapsed.TotalSeconds < 10) await Task.Delay(50);
        await d.LaunchAsync();
        Assert.DoesNotContain("cidata", await d.OkAsync("dumpxml", "ci2", "--inactive"));
        await WaitAsync(async () => !(await d.OkAsync("vol-list", "default")).Contains("ci2-cidata.iso"));

        // Bad options: exact errors, nothing made.
        Assert.Equal("error: --cloud-init: unknown option 'user_data'; use user-data=, meta-data=, network-config=, root-password-generate=on, root-password-file=, ssh-key=, disable=on.\n",
            await d.FailAsync("install", "--name", "bad", "--import", "--disk", "none", "--os-variant", "generic", "--cloud-init", "user_data=/x"));
        Assert.Equal("error: --cloud-init user-data= is used as it is: put the password and SSH keys into it instead of adding root-password-generate=, root-password-file= or ssh-key=.\n",
            await d.FailAsync("install", "--name", "bad", "--import", "--os-variant", "generic", "--cloud-init", $"user-data={userData},ssh-key={key}"));
        Assert.StartsWith($"error: Cannot read --cloud-init meta-data '{d.Root}/nope': ",
            await d.FailAsync("install", "--name", "bad", "--import", "--os-variant", "generic", "--cloud-init", $"user-data={userData},meta-data={d.Root}/nope"));
        Assert.DoesNotContain("bad", await d.OkAsync("vol-list", "default"));
    }

    [Fact]
    public async Task Location_boots_the_installer_from_an_iso_then_the_disk()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        // An "installer ISO" laid out like Debian's: install.amd/vmlinuz and initrd.gz.
        var iso = Path.Combine(d.Root, "netinst.iso");
        await using (var f = File.Create(iso))
            Vireo.Host.Iso9660.Write(f, "Test installer", [
                Vireo.Host.IsoFile.FromFile("install.amd/vmlinuz", $"{fx.GuestDir}/vmlinuz"),
                Vireo.Host.IsoFile.FromFile("install.amd/initrd.gz", $"{fx.GuestDir}/initrd.img"),
                Vireo.Host.IsoFile.FromText("README.txt", "test media\n")]);

        Assert.Equal("Found the debian installer: install.amd/vmlinuz, install.amd/initrd.gz\nDry run completed successfully\n",
            await d.OkAsync("install", "--name", "inst", "--location", iso, "--os-variant", "debian12", "--disk", "pool=default,size=0.01", "--dry-run"));
        Assert.False(Directory.Exists(Path.Combine(d.DataDir, "boot", "inst")));
        // An install tree (a directory) laid out like Fedora's.
        var tree = Directory.CreateDirectory(Path.Combine(d.Root, "tree", "images", "pxeboot")).FullName;
        File.Copy($"{fx.GuestDir}/vmlinuz", Path.Combine(tree, "vmlinuz"));
        File.Copy($"{fx.GuestDir}/initrd.img", Path.Combine(tree, "initrd.img"));
        Assert.Equal("Found the fedora installer: images/pxeboot/vmlinuz, images/pxeboot/initrd.img\nDry run completed successfully\n",
            await d.OkAsync("install", "--name", "tree", "--location", Path.Combine(d.Root, "tree"), "--os-variant", "fedora40", "--disk", "none", "--dry-run"));

        // The "installer" reboots by itself after 2 s: that ends the first run, and the domain
        // starts again from its (empty) disk without the kernel and the ISO.
        var r = await InstallFirstRunAsync(d, "inst", iso);
        Assert.Contains("Copied the debian installer's kernel and initrd (install.amd/vmlinuz, install.amd/initrd.gz) for the first run", r.Stdout);
        Assert.Contains("Installation finished; the domain starts again from its disk.", r.Stdout);
        var log = await File.ReadAllTextAsync(d.SerialLog("inst"));
        Assert.Contains("VIREO-GUEST: rebooting by itself", log);
        Assert.Matches(@"VIREO-GUEST: disk sr0 \d+ bytes ro=1", log);   // the ISO was the installer's CD-ROM
        await WaitAsync(async () => (await d.StateAsync("inst")).StartsWith("running"));
        var xml = await d.OkAsync("dumpxml", "inst", "--inactive");
        Assert.DoesNotContain("<kernel>", xml);
        Assert.DoesNotContain("netinst.iso", xml);
        Assert.Contains("<boot dev='hd'/>", xml);
        Assert.False(Directory.Exists(Path.Combine(d.DataDir, "boot", "inst")));
        Assert.DoesNotContain("<kernel>", await d.OkAsync("dumpxml", "inst"));
        await d.OkAsync("destroy", "inst");

        Assert.Equal($"error: --location '{d.Root}/none.iso' does not exist; give an ISO file or an install tree directory.\n",
            await d.FailAsync("install", "--name", "x", "--location", $"{d.Root}/none.iso", "--os-variant", "generic", "--disk", "none"));
        var empty = Path.Combine(d.Root, "empty.iso");
        await using (var f = File.Create(empty)) Vireo.Host.Iso9660.Write(f, "EMPTY", [Vireo.Host.IsoFile.FromText("a.txt", "a")]);
        Assert.StartsWith($"error: --location '{empty}' holds no installer kernel and initrd Vireo knows (looked for install.amd/vmlinuz, ",
            await d.FailAsync("install", "--name", "x", "--location", empty, "--os-variant", "generic", "--disk", "none"));
        Assert.Equal($"error: --location '{empty}' has no file 'boot/linux'.\n",
            await d.FailAsync("install", "--name", "x", "--location", $"{empty},kernel=boot/linux,initrd=a.txt", "--os-variant", "generic", "--disk", "none"));
        Assert.Equal($"error: --location '{d.Root}/etc-hostname' is not an ISO 9660 image (no volume descriptor 'CD001' at sector 16); give an installer ISO or an install tree directory.\n",
            await d.FailAsync("install", "--name", "x", "--location", await WriteAsync(Path.Combine(d.Root, "etc-hostname"), "host\n"), "--os-variant", "generic", "--disk", "none"));
        Assert.DoesNotContain("x", (await d.OkAsync("list", "--all", "--name")).Split('\n'));
    }

    [Fact]
    public async Task Location_retrieves_the_installer_from_an_http_tree()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        // A Debian mirror's installer tree, served on the host's loopback.
        var mirror = Directory.CreateDirectory(Path.Combine(d.Root, "mirror")).FullName;
        var netboot = Directory.CreateDirectory(Path.Combine(mirror, "debian/dists/bookworm/main/installer-amd64/current/images/netboot/debian-installer/amd64")).FullName;
        File.Copy($"{fx.GuestDir}/vmlinuz", Path.Combine(netboot, "linux"));
        File.Copy($"{fx.GuestDir}/initrd.img", Path.Combine(netboot, "initrd.gz"));
        var fedora = Directory.CreateDirectory(Path.Combine(mirror, "fedora/os/images/pxeboot")).FullName;
        File.Copy($"{fx.GuestDir}/vmlinuz", Path.Combine(fedora, "vmlinuz"));
        File.Copy($"{fx.GuestDir}/initrd.img", Path.Combine(fedora, "initrd.img"));
        using var http = new TreeServer(mirror);
        var tree = http.Url + "debian/dists/bookworm/main/installer-amd64/";

        // Fedora's installer is told where its tree is (inst.repo=), as virt-install does; Debian's finds its mirror itself.
        var xml = await d.OkAsync("install", "--name", "fed", "--location", http.Url + "fedora/os", "--os-variant", "fedora40", "--disk", "none",
            "--extra-args", "console=ttyS0", "--print-xml");
        Assert.Contains($"<cmdline>console=ttyS0 inst.repo={http.Url}fedora/os</cmdline>", xml);
        Assert.DoesNotContain("device='cdrom'", xml);   // a tree, not an ISO to attach

        var r = await InstallFirstRunAsync(d, "net", tree);
        Assert.Contains("Retrieved the debian installer's kernel and initrd (current/images/netboot/debian-installer/amd64/linux, current/images/netboot/debian-installer/amd64/initrd.gz) for the first run", r.Stdout);
        Assert.Contains("Installation finished; the domain starts again from its disk.", r.Stdout);
        Assert.Matches(@"Retrieving the installer's kernel and initrd: done in \d+\.\d s", r.Stderr);   // the bar's summary (drawn only on a terminal)
        Assert.Contains("VIREO-GUEST: rebooting by itself", await File.ReadAllTextAsync(d.SerialLog("net")));
        Assert.Contains("GET /debian/dists/bookworm/main/installer-amd64/current/images/netboot/debian-installer/amd64/initrd.gz", http.Requests);
        await WaitAsync(async () => (await d.StateAsync("net")).StartsWith("running"));
        Assert.DoesNotContain("<kernel>", await d.OkAsync("dumpxml", "net", "--inactive"));
        Assert.False(Directory.Exists(Path.Combine(d.DataDir, "boot", "net")));
        await d.OkAsync("destroy", "net");

        // A tree without a known installer, a server that is not there, and ftp: exact errors, nothing made.
        Assert.StartsWith($"error: --location '{http.Url}fedora' holds no installer kernel and initrd Vireo knows (looked for install.amd/vmlinuz, ",
            await d.FailAsync("install", "--name", "x", "--location", http.Url + "fedora", "--os-variant", "generic", "--disk", "none"));
        var port = Net.FreePort();   // nothing listens there
        var refused = await d.FailAsync("install", "--name", "x", "--location", $"http://127.0.0.1:{port}/tree", "--os-variant", "generic", "--disk", "none");
        Assert.StartsWith($"error: Cannot reach --location 'http://127.0.0.1:{port}/tree': Connection refused", refused);
        Assert.EndsWith("; check the URL and that the server is up.\n", refused);
        Assert.Equal("error: --location 'ftp://example.org/tree' must be an absolute path to an ISO or an install tree, or an http(s) URL of a tree (other URLs, ftp:// say, are not supported).\n",
            await d.FailAsync("install", "--name", "x", "--location", "ftp://example.org/tree", "--os-variant", "generic", "--disk", "none"));
        Assert.DoesNotContain("x", (await d.OkAsync("list", "--all", "--name")).Split('\n'));
        Assert.False(Directory.Exists(Path.Combine(d.DataDir, "boot", "x")));
    }

    [Fact]
    public async Task Transient_install_is_gone_when_it_stops()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var r = await d.RunAsync("install", "--name", "tr", "--transient", "--os-variant", "generic", "--memory", "128", "--boot", Boot, "--network", "none", "--noautoconsole");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("Creating transient domain 'tr'", r.Stdout);
        Assert.Contains("Persistent:     no", await d.OkAsync("dominfo", "tr"));
        await d.OkAsync("destroy", "tr");
        Assert.DoesNotContain("tr", (await d.OkAsync("list", "--all", "--name")).Split('\n'));
        Assert.False(File.Exists(Path.Combine(d.ConfigDir, "qemu", "tr.xml")));
        Assert.Equal("error: --autostart needs a persistent domain; drop --transient.\n",
            await d.FailAsync("install", "--name", "tr", "--transient", "--autostart", "--os-variant", "generic", "--boot", Boot));
    }

    private static async Task<string> WriteAsync(string path, string text) { await File.WriteAllTextAsync(path, text); return path; }

    /// <summary>
    /// vireo install --location with the test kernel as the "installer": it reboots by itself
    /// after 2 s, which ends the first run (--wait 2 returns then); serial log in d.SerialLog(name).
    /// </summary>
    private static async Task<CliResult> InstallFirstRunAsync(TestDaemon d, string name, string location)
    {
        var r = await d.RunAsync("install", "--name", name, "--location", location, "--os-variant", "generic", "--memory", "128",
            "--extra-args", "console=ttyS0 quiet panic=-1 vireo.reboot=2", "--disk", "pool=default,size=0.01", "--network", "none",
            "--serial", $"pty,log.file={d.SerialLog(name)},log.append=on", "--wait", "2");
        Assert.True(r.ExitCode == 0, r.ToString());
        return r;
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, double seconds = 20)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (!await condition())
        {
            if (sw.Elapsed.TotalSeconds > seconds) Assert.Fail("condition not met in time");
            await Task.Delay(100);
        }
    }
}

/// <summary>UEFI through OVMF (Debian's ovmf package, picked through QEMU's firmware descriptors).</summary>
[Collection("vireo")]
public sealed class UefiTests(VireoFixture fx)
{
    [Fact]
    public async Task Uefi_boots_the_test_kernel_as_an_efi_stub_with_its_own_nvram()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        // debian12 boots with UEFI by default; OVMF loads the kernel (an EFI stub) from fw_cfg.
        var r = await d.RunAsync("install", "--name", "efi", "--os-variant", "debian12", "--memory", "256", "--network", "none",
            "--boot", $"kernel={fx.GuestDir}/vmlinuz,initrd={fx.GuestDir}/initrd.img,kernel_args=console=ttyS0 quiet panic=-1",
            "--serial", $"pty,log.file={d.SerialLog("efi")}", "--noautoconsole");
        Assert.True(r.ExitCode == 0, r.ToString());
        // The inactive XML leaves the firmware to be picked, as libvirt 9.0's does (so libvirt can define it); the live XML names the pick.
        var xml = await d.OkAsync("dumpxml", "efi", "--inactive");
        Assert.Contains("<os firmware='efi'>", xml);
        Assert.DoesNotContain("<loader", xml);
        var nvram = Path.Combine(d.DataDir, "nvram", "efi_VARS.fd");
        Assert.Contains($"<nvram>{nvram}</nvram>", xml);
        xml = await d.OkAsync("dumpxml", "efi");
        Assert.Contains("<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>", xml);
        Assert.Contains($"<nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>{nvram}</nvram>", xml);
        await d.WaitForSerialAsync("efi", "VIREO-GUEST-READY", timeoutSeconds: 120);
        var efiLog = await File.ReadAllTextAsync(d.SerialLog("efi"));
        Assert.Contains("VIREO-GUEST: firmware efi", efiLog);
        // debian12 also brings a guest agent channel: a virtio-serial port in the guest, a socket on the host.
        Assert.Contains("VIREO-GUEST: port org.qemu.guest_agent.0", efiLog);
        Assert.True(File.Exists(Path.Combine(d.RunDir, "qemu", "channel", "efi", "org.qemu.guest_agent.0.sock")));
        Assert.Equal(new FileInfo("/usr/share/OVMF/OVMF_VARS_4M.fd").Length, new FileInfo(nvram).Length);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(nvram));
        await d.OkAsync("destroy", "efi");

        Assert.Equal($"error: Domain 'efi' has a UEFI variable store ({nvram}); add --nvram to delete it, or --keep-nvram to keep it.\n",
            await d.FailAsync("undefine", "efi"));
        Assert.Contains("efi", await d.OkAsync("list", "--all", "--name"));
        await d.OkAsync("undefine", "efi", "--nvram");
        Assert.False(File.Exists(nvram));

        // Secure Boot only when asked, and only where it can work.
        // 'pc' is pinned on define to the versioned machine this host's QEMU gives it.
        Assert.Matches(@"^error: Secure Boot needs the q35 machine type \(its firmware needs SMM\); this domain uses 'pc-i440fx-\d+\.\d+'\. Use --machine q35\.\n$",
            await d.FailAsync("install", "--name", "sb", "--os-variant", "debian12", "--virt-type", "qemu", "--machine", "pc", "--import", "--disk", "none",
                "--boot", "uefi,firmware.feature0.name=secure-boot,firmware.feature0.enabled=yes"));
        var sb = await d.OkAsync("install", "--name", "sb", "--os-variant", "win11", "--import", "--disk", "none", "--network", "none",
            "--boot", "uefi,firmware.feature0.name=secure-boot,firmware.feature0.enabled=yes", "--print-xml");
        await d.DefineAsync(sb);
        await d.OkAsync("start", "sb");
        xml = await d.OkAsync("dumpxml", "sb");
        await d.OkAsync("destroy", "sb");
        // The first descriptor with Secure Boot (Debian's 40-…-secure-enrolled: Microsoft's keys enrolled).
        Assert.Contains("<loader readonly='yes' secure='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.ms.fd</loader>", xml);
        Assert.Contains("template='/usr/share/OVMF/OVMF_VARS_4M.ms.fd'", xml);
        Assert.Contains("<smm state='on'/>", xml);
        await d.OkAsync("undefine", "sb", "--nvram");
    }
}

/// <summary>vireo clone (virt-clone).</summary>
[Collection("vireo")]
public sealed class CloneTests(VireoFixture fx)
{
    [Fact]
    public async Task Clone_boots_beside_its_original_with_new_macs_and_its_own_disk()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.OkAsync("vol-create-as", "default", "orig.raw", "16M", "--format", "raw");
        await using (var f = new FileStream(Path.Combine(d.Images, "orig.raw"), FileMode.Open)) await f.WriteAsync("ORIG-DATA"u8.ToArray());
        var agent = Path.Combine(d.Root, "orig.agent");
        await d.DefineAsync(d.GuestXml("orig", "vireo.agent", devices: $"""
            <disk type='volume' device='disk'><driver name='qemu' type='raw'/><source pool='default' volume='orig.raw'/><target dev='vda' bus='virtio'/></disk>
            <interface type='user'><model type='virtio'/></interface>
            {GuestAgent.Device(agent)}
            """));
        var origMac = System.Text.RegularExpressions.Regex.Match(await d.OkAsync("dumpxml", "orig"), "<mac address='([0-9a-f:]+)'/>").Groups[1].Value;

        var r = await d.RunAsync("clone", "--original", "orig", "--name", "copy", "--auto-clone");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains($"vda: {d.Images}/orig.raw -> {d.Images}/copy.raw (copy)", r.Stdout);
        Assert.Matches(@"Clone 'copy' created successfully \(uuid [0-9a-f-]{36}, MAC 52:54:00:[0-9a-f:]{8}\)\.", r.Stdout);
        var xml = await d.OkAsync("dumpxml", "copy");
        Assert.Contains("<source pool='default' volume='copy.raw'/>", xml);
        Assert.Contains($"path='{Path.Combine(d.Root, "copy.agent")}'", xml);
        Assert.DoesNotContain(origMac, xml);
        Assert.NotEqual(Uuid(await d.OkAsync("dumpxml", "orig")), Uuid(xml));

        // Both run at once; each sees its own MAC and its own disk.
        await d.OkAsync("start", "orig");
        await d.OkAsync("start", "copy");
        await d.WaitForSerialAsync("orig", "VIREO-GUEST-READY");
        await d.WaitForSerialAsync("copy", "VIREO-GUEST-READY");
        Assert.Contains($"VIREO-GUEST: nic eth0 {origMac}", await File.ReadAllTextAsync(d.SerialLog("orig")));
        var copyLog = await File.ReadAllTextAsync(d.SerialLog("copy"));
        Assert.Matches(@"VIREO-GUEST: nic eth0 52:54:00:", copyLog);
        Assert.DoesNotContain(origMac, copyLog);
        using (var ga = new GuestAgent(Path.Combine(d.Root, "copy.agent")))
        {
            Assert.Equal("ORIG-DATA", await ga.RunAsync("dd if=/dev/vda bs=9 count=1 2>/dev/null"));
            await ga.RunAsync("printf COPY-DATA | dd of=/dev/vda conv=notrunc 2>/dev/null; sync");
        }
        Assert.Equal("error: Domain 'orig' is running; shut it down first: its disks are in use while they would be copied.\n",
            await d.FailAsync("clone", "--original", "orig", "--auto-clone"));
        await d.OkAsync("destroy", "orig");
        await d.OkAsync("destroy", "copy");
        Assert.Equal("ORIG-DATA", System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(Path.Combine(d.Images, "orig.raw"))[..9]));
        Assert.Equal("COPY-DATA", System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(Path.Combine(d.Images, "copy.raw"))[..9]));

        // Linked: a qcow2 overlay on the original's disk, named after the clone.
        r = await d.RunAsync("clone", "--original", "orig", "--name", "lnk", "--auto-clone", "--linked");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains($"vda: {d.Images}/orig.raw -> {d.Images}/lnk.qcow2 (linked clone)", r.Stdout);
        Assert.Contains($"<path>{d.Images}/orig.raw</path>", await d.OkAsync("vol-dumpxml", "--pool", "default", "lnk.qcow2"));
        // Without --name, the clone is ORIGINAL-clone (virt-clone --auto-clone).
        await d.OkAsync("clone", "--original", "orig", "--linked");
        Assert.Contains("orig-clone", await d.OkAsync("list", "--all", "--name"));
        // Reflink needs a filesystem that can; where it cannot, the error says so and nothing is left.
        r = await d.RunAsync("clone", "--original", "orig", "--name", "ref", "--auto-clone", "--reflink");
        if (r.ExitCode != 0)
        {
            Assert.StartsWith($"error: Cannot copy 'orig.raw' to 'ref.raw': the filesystem of '{d.Images}' cannot make reflink copies", r.Stderr);
            Assert.False(File.Exists(Path.Combine(d.Images, "ref.raw")));
            Assert.DoesNotContain("ref", (await d.OkAsync("list", "--all", "--name")).Split('\n'));
        }
        else
        {
            Assert.Contains($"vda: {d.Images}/orig.raw -> {d.Images}/ref.raw (reflink)", r.Stdout);
            Assert.Equal(File.ReadAllBytes(Path.Combine(d.Images, "orig.raw")), File.ReadAllBytes(Path.Combine(d.Images, "ref.raw")));
        }

        Assert.Equal("error: Disk vda of 'orig' needs a destination: give --file PATH for each disk to copy, or --auto-clone to name them after 'x'.\n",
            await d.FailAsync("clone", "--original", "orig", "--name", "x"));
        Assert.Equal("error: Domain 'copy' already exists; pick another --name.\n", await d.FailAsync("clone", "--original", "orig", "--name", "copy", "--auto-clone"));
        Assert.Equal($"error: --file '/tmp/elsewhere.raw' must be in the pool of the disk it copies ({d.Images}).\n",
            await d.FailAsync("clone", "--original", "orig", "--name", "y", "--file", "/tmp/elsewhere.raw"));
        Assert.DoesNotMatch(@"(?m)^\s*y\.raw\s", await d.OkAsync("vol-list", "default"));
        Assert.DoesNotContain("x", (await d.OkAsync("list", "--all", "--name")).Split('\n'));
    }

    private static string Uuid(string xml) => System.Text.RegularExpressions.Regex.Match(xml, "<uuid>(.*)</uuid>").Groups[1].Value;
}

/// <summary>Host directories shared into the guest: 9p and virtiofs (virtiofsd supervised per share).</summary>
[Collection("vireo")]
public sealed class ShareTests(VireoFixture fx)
{
    [Fact]
    public async Task Guest_mounts_a_9p_and_a_virtiofs_share_and_reads_their_files()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var nine = Directory.CreateDirectory(Path.Combine(d.Root, "share9p")).FullName;
        var vfs = Directory.CreateDirectory(Path.Combine(d.Root, "sharevfs")).FullName;
        await File.WriteAllTextAsync(Path.Combine(nine, "hello.txt"), "from 9p\n");
        await File.WriteAllTextAsync(Path.Combine(vfs, "hello.txt"), "from virtiofs\n");
        var agent = Path.Combine(d.Root, "sh.agent");
        var r = await d.RunAsync("install", "--name", "sh", "--os-variant", "generic", "--memory", "192", "--network", "none",
            "--boot", $"kernel={fx.GuestDir}/vmlinuz,initrd={fx.GuestDir}/initrd.img,kernel_args=console=ttyS0 quiet panic=-1 vireo.agent",
            "--filesystem", $"{nine},nine,accessmode=mapped", "--filesystem", $"{vfs},vfs,driver.type=virtiofs",
            "--serial", $"pty,log.file={d.SerialLog("sh")}", "--serial", $"unix,path={agent},mode=bind", "--noautoconsole");
        Assert.True(r.ExitCode == 0, r.ToString());
        var xml = await d.OkAsync("dumpxml", "sh");
        Assert.Contains("<source type='memfd'/>", xml);
        Assert.Contains("<access mode='shared'/>", xml);
        await d.WaitForSerialAsync("sh", "VIREO-GUEST-READY");
        var qemu = d.QemuPids()["sh"];
        // One virtiofsd, a child of the daemon, serving the share.
        var children = ChildrenOf(d.Pid).Where(p => File.ReadAllText($"/proc/{p}/cmdline").Contains("virtiofsd")).ToList();
        var virtiofsd = Assert.Single(children);
        Assert.Contains($"source={vfs}", File.ReadAllText($"/proc/{virtiofsd}/cmdline").Replace('\0', ' '));
        using (var ga = new GuestAgent(agent))
        {
            Assert.Equal("from 9p\n", await ga.RunAsync("mkdir -p /m9 && mount -t 9p -o trans=virtio,version=9p2000.L nine /m9 && cat /m9/hello.txt"));
            Assert.Equal("from virtiofs\n", await ga.RunAsync("mkdir -p /mv && mount -t virtiofs vfs /mv && cat /mv/hello.txt"));
            await ga.RunAsync("echo written-by-guest > /mv/back.txt && sync");
        }
        Assert.Equal("written-by-guest\n", await File.ReadAllTextAsync(Path.Combine(vfs, "back.txt")));
        await d.OkAsync("destroy", "sh");
        Assert.False(TestDaemon.Alive(qemu));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (TestDaemon.Alive(virtiofsd) && sw.Elapsed.TotalSeconds < 10) await Task.Delay(50);
        Assert.False(TestDaemon.Alive(virtiofsd), "virtiofsd outlived its guest");

        Assert.Equal("error: --filesystem driver.type=virtiofs needs accessmode=passthrough (virtiofsd maps no ownership); use 9p for mapped.\n",
            await d.FailAsync("install", "--name", "bad", "--import", "--disk", "none", "--os-variant", "generic", "--filesystem", $"{vfs},t,driver.type=virtiofs,accessmode=mapped"));
        // A definition that asks for private memory with virtiofs is refused at define.
        var bad = d.GuestXml("bad", devices: $"<filesystem type='mount' accessmode='passthrough'><driver type='virtiofs'/><source dir='{vfs}'/><target dir='t'/></filesystem>",
            extra: "<memoryBacking><access mode='private'/></memoryBacking>");
        var res = await d.DefineResultAsync(bad);
        Assert.Contains("virtiofs share 't' needs <memoryBacking><access mode='shared'/></memoryBacking>: virtiofsd maps the guest's memory.", res.Stderr);
    }

    private static IEnumerable<int> ChildrenOf(int pid) =>
        Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Where(n => n!.All(char.IsAsciiDigit)).Select(int.Parse!)
            .Where(p => { try { return File.ReadAllText($"/proc/{p}/stat").Split(") ")[1].Split(' ')[1] == pid.ToString(); } catch (IOException) { return false; } });
}

/// <summary>Disks read over http and NBD (QEMU's curl and NBD clients), as CD-ROM, disk and backing image.</summary>
[Collection("vireo")]
public sealed class RemoteSourceTests(VireoFixture fx)
{
    [Fact]
    public async Task Guest_reads_http_and_nbd_sources_and_an_overlay_on_an_http_base()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var media = new byte[1 << 20];
        "REMOTE-MEDIA"u8.CopyTo(media);
        using var http = new RangeServer(media);
        var img = Path.Combine(d.Root, "nbd.raw");
        var block = new byte[1 << 20];
        "NBD-EXPORT-1"u8.CopyTo(block);
        await File.WriteAllBytesAsync(img, block);
        var nbdPort = FreePort();
        using var nbd = System.Diagnostics.Process.Start("qemu-nbd", ["-t", "-b", "127.0.0.1", "-p", nbdPort.ToString(), "-f", "raw", "-x", "exp", img])!;
        try
        {
            await WaitPortAsync(nbdPort);
            // A linked clone whose base is read over http.
            await d.OkAsync("vol-create-as", "default", "ov.qcow2", "0", "--format", "qcow2", "--backing-vol", $"http://127.0.0.1:{http.Port}/media.img", "--backing-vol-format", "raw");
            Assert.Contains("1.00 MiB", await d.OkAsync("vol-info", "--pool", "default", "ov.qcow2"));
            var agent = Path.Combine(d.Root, "net.agent");
            await d.DefineAsync(d.GuestXml("net", "vireo.agent", devices: $"""
                <disk type='network' device='cdrom'><driver name='qemu' type='raw'/>
                  <source protocol='http' name='/media.img'><host name='127.0.0.1' port='{http.Port}'/></source><target dev='hdc' bus='ide'/></disk>
                <disk type='network' device='disk'><driver name='qemu' type='raw'/>
                  <source protocol='nbd' name='exp'><host name='127.0.0.1' port='{nbdPort}'/></source><target dev='vdb' bus='virtio'/></disk>
                <disk type='volume' device='disk'><source pool='default' volume='ov.qcow2'/><target dev='vdc' bus='virtio'/></disk>
                {GuestAgent.Device(agent)}
                """));
            Assert.Contains($"http://127.0.0.1:{http.Port}/media.img", await d.OkAsync("domblklist", "net"));
            await d.OkAsync("start", "net");
            await d.WaitForSerialAsync("net", "VIREO-GUEST-READY");
            using (var ga = new GuestAgent(agent))
            {
                Assert.Equal("REMOTE-MEDIA", await ga.RunAsync("dd if=/dev/sr0 bs=2048 count=1 2>/dev/null | head -c 12"));
                Assert.Equal("NBD-EXPORT-1", await ga.RunAsync("dd if=/dev/vda bs=12 count=1 2>/dev/null"));
                Assert.Equal("REMOTE-MEDIA", await ga.RunAsync("dd if=/dev/vdb bs=12 count=1 2>/dev/null"));
                await ga.RunAsync("printf NBD-WRITTEN! | dd of=/dev/vda conv=notrunc 2>/dev/null; printf OVERLAY-HERE | dd of=/dev/vdb conv=notrunc 2>/dev/null; sync");
            }
            await d.OkAsync("destroy", "net");
            Assert.Equal("NBD-WRITTEN!", System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(img)[..12]));
            Assert.Equal("REMOTE-MEDIA", System.Text.Encoding.ASCII.GetString(media[..12]));   // the http base is read-only
            Assert.True(http.Requests > 0);
        }
        finally
        {
            nbd.Kill();
            await nbd.WaitForExitAsync();
        }

        // The unreachable host is named; nothing starts.
        var dead = FreePort();
        await d.DefineAsync(d.GuestXml("gone", devices: $"""
            <disk type='network' device='cdrom'><source protocol='https' name='/x.iso'><host name='127.0.0.1' port='{dead}'/></source><target dev='hdc' bus='ide'/></disk>
            """));
        Assert.Equal($"error: Cannot reach the https server 127.0.0.1:{dead} of disk 'hdc' (https://127.0.0.1:{dead}/x.iso): Connection refused. Check that it runs and that this host can reach it.\n",
            await d.FailAsync("start", "gone"));
        Assert.StartsWith("shut off", await d.StateAsync("gone"));
        var rw = await d.DefineResultAsync(d.GuestXml("rw", devices: $"""
            <disk type='network' device='disk'><source protocol='http' name='/a.img'><host name='127.0.0.1' port='{dead}'/></source><target dev='vda' bus='virtio'/></disk>
            """));
        Assert.Contains("Disk 'vda' reads over http, which QEMU serves read-only; add <readonly/>", rw.Stderr);
    }

    private static int FreePort() => Net.FreePort();

    private static async Task WaitPortAsync(int port)
    {
        for (int i = 0; i < 100; i++)
        {
            try { using var c = new System.Net.Sockets.TcpClient(); await c.ConnectAsync("127.0.0.1", port); return; }
            catch (System.Net.Sockets.SocketException) { await Task.Delay(50); }
        }
        throw new TimeoutException($"nothing listens on port {port}");
    }

    /// <summary>A tiny http server on loopback that answers HEAD and byte-range GETs, as QEMU's curl driver needs.</summary>
    private sealed class RangeServer : IDisposable
    {
        private readonly System.Net.HttpListener _l = new();
        private readonly byte[] _data;
        private int _requests;
        public int Port { get; }
        public int Requests => _requests;

        public RangeServer(byte[] data)
        {
            _data = data;
            Port = FreePort();
            _l.Prefixes.Add($"http://127.0.0.1:{Port}/");
            _l.Start();
            _ = Task.Run(LoopAsync);
        }

        private async Task LoopAsync()
        {
            while (_l.IsListening)
            {
                System.Net.HttpListenerContext ctx;
                try { ctx = await _l.GetContextAsync(); } catch (Exception) { return; }
                Interlocked.Increment(ref _requests);
                var res = ctx.Response;
                res.Headers["Accept-Ranges"] = "bytes";
                long start = 0, end = _data.Length - 1;
                if (ctx.Request.Headers["Range"] is { } range && range.StartsWith("bytes="))
                {
                    var parts = range[6..].Split('-');
                    start = long.Parse(parts[0]);
                    if (parts[1].Length > 0) end = Math.Min(long.Parse(parts[1]), end);
                    res.StatusCode = 206;
                    res.Headers["Content-Range"] = $"bytes {start}-{end}/{_data.Length}";
                }
                res.ContentLength64 = end - start + 1;
                try
                {
                    if (ctx.Request.HttpMethod != "HEAD") await res.OutputStream.WriteAsync(_data.AsMemory((int)start, (int)(end - start + 1)));
                    res.Close();
                }
                catch (Exception) { }
            }
        }

        public void Dispose() => _l.Close();
    }
}
