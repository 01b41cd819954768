using Vireo.Model;

namespace Vireo.Tests;

public class InstallTests
{
    private static InstallPlan Build(Action<InstallOptions> set, bool kvm = false)
    {
        var o = new InstallOptions { Name = "web", Import = true };
        set(o);
        return InstallBuilder.Build(o, kvm);
    }

    private static string Errors(Action<InstallOptions> set) =>
        string.Join("\n", Assert.Throws<DefinitionException>(() => Build(set)).Problems.Select(p => p.Message));

    [Fact]
    public void A_typical_install_becomes_the_domain_virt_install_would_make()
    {
        var plan = Build(o =>
        {
            o.Import = false;
            o.OsVariant = "debian12";
            o.Memory = "2048";
            o.Vcpus = "4,sockets=1,cores=2,threads=2";
            o.Cdrom = "/isos/debian-12.iso";
            o.Disks = ["pool=default,size=20,bus=virtio,cache=none,io=native,discard=unmap"];
            o.Networks = ["network=default,mac=52:54:00:AA:BB:CC"];
            o.Graphics = "vnc,listen=0.0.0.0,port=5905";
            o.Rng = "/dev/urandom";
        });
        var d = plan.Domain;
        Assert.Equal(("qemu", "q35", 2048UL * 1024, 4), (d.Type, d.Os.Machine, d.MemoryKiB, d.Vcpus));
        Assert.Equal((1, 2, 2), (d.Cpu!.Sockets, d.Cpu.Cores, d.Cpu.Threads));
        Assert.Equal([new NewDisk("vda", "default", null, "web.qcow2", 20UL << 30, "qcow2")], plan.NewDisks);
        Assert.Equal(["cdrom", "hd"], d.Os.BootDevices);
        var xml = DomainXml.Write(d);
        Assert.Contains("<disk type='volume' device='disk'>\n      <driver name='qemu' type='qcow2' cache='none' io='native' discard='unmap'/>\n      <source pool='default' volume='web.qcow2'/>\n      <target dev='vda' bus='virtio'/>", xml);
        Assert.Contains("<source file='/isos/debian-12.iso'/>\n      <target dev='sda' bus='sata'/>", xml);
        Assert.Contains("<mac address='52:54:00:aa:bb:cc'/>\n      <source network='default'/>\n      <model type='virtio'/>", xml);
        Assert.Contains("<graphics type='vnc' port='5905' autoport='no' listen='0.0.0.0'", xml);
        Assert.Contains("<backend model='random'>/dev/urandom</backend>", xml);
        // What --print-xml prints, vireo define takes.
        var defined = DomainRules.ParseForDefine(xml);
        Assert.Equal("web", defined.Name);
        Assert.Contains("KVM cannot run guests on this host", plan.Warnings.Single());
    }

    [Fact]
    public void Kernel_boot_generic_and_defaults()
    {
        var plan = Build(o =>
        {
            o.Import = false;
            o.OsVariant = "generic";
            o.Boot = "kernel=/k/vmlinuz,initrd=/k/initrd.img,kernel_args=console=ttyS0 quiet root=/dev/sda,menu=on";
            o.Disks = ["/var/lib/vireo/images/data.raw,readonly"];
            o.Networks = ["none"];
        }, kvm: true);
        var d = plan.Domain;
        Assert.Equal(("kvm", "pc", 128UL * 1024), (d.Type, d.Os.Machine, d.MemoryKiB));
        Assert.Equal(("/k/vmlinuz", "/k/initrd.img", "console=ttyS0 quiet root=/dev/sda,menu=on"), (d.Os.Kernel, d.Os.Initrd, d.Os.Cmdline));
        Assert.Equal(("sda", "sata", true), (d.Devices.Disks[0].TargetDev, d.Devices.Disks[0].TargetBus, d.Devices.Disks[0].ReadOnly));
        Assert.Empty(d.Devices.Interfaces);
        Assert.Empty(plan.Warnings);
    }

    [Fact]
    public void Every_option_error_names_the_option()
    {
        Assert.Equal("Unknown --os-variant 'debain12'; close names: debian12, debian11 (or 'generic').", Errors(o => o.OsVariant = "debain12"));
        Assert.Equal("--memory 'lots' is not a size in MiB, like --memory 2048.", Errors(o => o.Memory = "lots"));
        Assert.Equal("--vcpus: sockets × cores × threads = 4, but the maximum is 8; they must match.", Errors(o => o.Vcpus = "vcpus=2,maxvcpus=8,sockets=1,cores=2,threads=2"));
        Assert.Equal("--disk: unknown option 'sise'.", Errors(o => o.Disks = ["pool=default,size=1,sise=2"]));
        Assert.Equal("--disk pool=default needs size= (GiB) for the new volume.", Errors(o => o.Disks = ["pool=default"]));
        Assert.Equal("--disk size='-3' is not a size in GiB, like size=20.", Errors(o => o.Disks = ["pool=default,size=-3"]));
        Assert.Equal("--disk bus='usb' is not known; use virtio, sata, scsi or ide.", Errors(o => o.Disks = ["/x.raw,bus=usb"]));
        Assert.Equal("--network 'bogus=1' names no network; use network=NAME, bridge=BR, type=direct,source=DEV, user or none.", Errors(o => o.Networks = ["bogus=1"]));
        Assert.Equal("--graphics 'spice' is not supported; use none or vnc[,listen=ADDR,port=N].", Errors(o => o.Graphics = "spice"));
        Assert.Equal("--cpu host-passthrough needs KVM; under TCG (--virt-type qemu) use a model such as qemu64 or 'maximum'.", Errors(o => o.Cpu = "host-passthrough"));
        Assert.Equal("Say how the guest installs: --cdrom ISO, --location ISO|DIR|URL, --import (boot the first disk), or --boot kernel=…,initrd=….", Errors(o => o.Import = false));
        Assert.Equal("--name is required: the domain's name.", Errors(o => o.Name = null));
    }

    [Fact]
    public void An_http_location_is_a_tree_and_fedora_is_told_where_it_is()
    {
        var plan = Build(o => { o.Import = false; o.Location = "http://mirror.example/fedora/os/"; o.ExtraArgs = "console=ttyS0"; });
        Assert.Equal(new LocationPlan("http://mirror.example/fedora/os/", true, null, null), plan.Location);
        Assert.DoesNotContain(plan.Domain.Devices.Disks, d => d.Device == "cdrom");   // no ISO to give the installer
        Assert.Equal("--location 'ftp://mirror.example/os' must be an absolute path to an ISO or an install tree, or an http(s) URL of a tree (other URLs, ftp:// say, are not supported).",
            Errors(o => { o.Import = false; o.Location = "ftp://mirror.example/os"; }));

        var fedora = new Vireo.Engine.InstallMedia.Found("fedora", "images/pxeboot/vmlinuz", "images/pxeboot/initrd.img", true);
        var url = "https://mirror.example/fedora/os";
        Assert.Equal($"console=ttyS0 inst.repo={url}", Vireo.Engine.InstallMedia.Cmdline(url, fedora, "console=ttyS0"));
        Assert.Equal($"inst.repo={url}", Vireo.Engine.InstallMedia.Cmdline(url, fedora, null));
        Assert.Equal("inst.repo=http://other/", Vireo.Engine.InstallMedia.Cmdline(url, fedora, "inst.repo=http://other/"));   // the user's own wins
        Assert.Equal("console=ttyS0", Vireo.Engine.InstallMedia.Cmdline("/isos/fedora", fedora, "console=ttyS0"));   // a local tree: nothing to add
        Assert.Equal($"install={url}", Vireo.Engine.InstallMedia.Cmdline(url, fedora with { Distro = "opensuse" }, null));
        Assert.Null(Vireo.Engine.InstallMedia.Cmdline(url, fedora with { Distro = "debian" }, null));   // d-i finds its mirror itself
    }

    [Fact]
    public void Uefi_options_and_their_errors()
    {
        var o = new InstallOptions { Name = "u", Import = true, OsVariant = "generic", Boot = "uefi" };
        Assert.Equal("efi", InstallBuilder.Build(o, false).Domain.Os.Firmware);
        o.OsVariant = "debian12";
        o.Boot = "hd";
        Assert.Equal("efi", InstallBuilder.Build(o, false).Domain.Os.Firmware);   // the OS's default
        o.Boot = "bios";
        Assert.Equal("bios", InstallBuilder.Build(o, false).Domain.Os.Firmware);
        o.Boot = "bios,loader_secure=yes";
        var e = Assert.Throws<DefinitionException>(() => InstallBuilder.Build(o, false));
        Assert.Equal("--boot bios cannot have UEFI firmware features; drop one of them.", e.Problems.Single().Message);
        o.Boot = "uefi,firmware.feature0.name=secureboot,firmware.feature0.enabled=yes";
        e = Assert.Throws<DefinitionException>(() => InstallBuilder.Build(o, false));
        Assert.Equal("--boot firmware.feature0.name='secureboot' is not known; use secure-boot or enrolled-keys.", e.Problems.Single().Message);
    }

    [Fact]
    public void Kvm_ptp_clock_under_tcg_is_an_explicit_error()
    {
        var o = new InstallOptions { Name = "p", Import = true, OsVariant = "generic", Clock = "kvmclock_present=yes", VirtType = "qemu" };
        var e = Assert.Throws<DefinitionException>(() => InstallBuilder.Build(o, false));
        Assert.Equal("--clock kvmclock_present=yes (the clock behind the guest's KVM PTP device, ptp_kvm) needs KVM; this guest runs under TCG (--virt-type qemu).", e.Problems.Single().Message);
        o.VirtType = "kvm";
        var d = InstallBuilder.Build(o, kvmUsable: true).Domain;
        Assert.Equal(new TimerDef("kvmclock", null, "yes"), d.Clock!.Timers.Single());
        var argv = Vireo.Qemu.QemuArgv.Build(DomainRules.ParseForDefine(DomainXml.Write(d)), new Vireo.Qemu.LaunchContext { Emulator = "/q", MonitorFd = 3, ChannelDir = "/c" });
        Assert.Equal("qemu64,kvmclock=on", argv[argv.IndexOf("-cpu") + 1]);
        // A definition asking for it under TCG defines, as in libvirt (start refuses it, naming the timer).
        d.Type = "qemu";
        Assert.Contains(DomainRules.ParseForDefine(DomainXml.Write(d)).Clock!.Timers, t => t.Name == "kvmclock" && t.Present == "yes");
    }

    /// <summary>A dozen option sets as `vireo install` takes them (one option per line), against the XML --print-xml prints.</summary>
    public static TheoryData<string, string> PrintXmlCases => new()
    {
        { "01-import-generic", "--name a --import --disk /img/a.raw --os-variant generic" },
        { "02-debian-cdrom-pool", "--name b --os-variant debian12 --memory 2048 --vcpus 2 --cdrom /iso/d.iso --disk pool=default,size=20 --network network=default" },
        { "03-topology", "--name c --import --disk /img/c.qcow2,format=qcow2 --vcpus 8,sockets=2,cores=2,threads=2 --cpu host-model --os-variant linux2022" },
        { "04-maxvcpus", "--name d --import --disk /img/d.raw --vcpus vcpus=2,maxvcpus=4 --memory memory=1024,currentMemory=512 --os-variant generic" },
        { "05-kernel-boot", "--name e --boot kernel=/k/vmlinuz,initrd=/k/initrd,kernel_args=console=ttyS0 root=/dev/vda --disk vol=default/e.qcow2 --os-variant alpinelinux3.19 --network none" },
        { "06-bridge-vnc", "--name f --import --disk /img/f.raw,bus=virtio,cache=none,io=native --network bridge=br0,model=e1000,mac=52:54:00:01:02:03 --graphics vnc,listen=0.0.0.0 --os-variant debian12" },
        { "07-direct-user", "--name g --import --disk /img/g.raw --network type=direct,source=eth1,source_mode=bridge --network user --os-variant generic" },
        { "08-windows", "--name h --os-variant win11 --cdrom /iso/win11.iso --disk pool=default,size=64 --network network=default" },
        { "09-boot-order", "--name i --os-variant debian12 --disk /img/i.raw,boot_order=2 --disk /iso/x.iso,device=cdrom,boot_order=1 --boot menu=on --import" },
        { "10-share-rng", "--name j --import --disk /img/j.raw --filesystem /srv/share,hostshare,accessmode=passthrough --rng /dev/urandom --os-variant linux2022" },
        { "11-scsi", "--name k --import --disk /img/k.raw,bus=scsi,discard=unmap --controller type=scsi,model=virtio-scsi --os-variant generic --machine pc" },
        { "12-kvm-pc", "--name l --virt-type kvm --machine pc --import --disk /img/l.raw,readonly --os-variant fedora40 --memory 4096" },
        { "13-secure-boot", "--name m --import --disk /img/m.qcow2 --os-variant win11 --boot uefi,firmware.feature0.name=secure-boot,firmware.feature0.enabled=yes" },
        { "14-bios", "--name n --import --disk /img/n.raw --os-variant debian12 --boot bios,hd" },
        { "15-cloud-init", "--name o --import --disk pool=default,size=10 --os-variant ubuntu24.04 --cloud-init root-password-generate=on --serial file,path=/var/log/o.log" },
        { "17-virtiofs", "--name q --import --disk /img/q.raw --filesystem /srv/data,data,driver.type=virtiofs --filesystem source.dir=/srv/ro,target.dir=ro,accessmode=squash --os-variant linux2022 --boot bios" },
        { "18-clock-channel", "--name r --import --disk /img/r.raw --os-variant generic --clock offset=localtime,rtc_tickpolicy=catchup,hpet_present=no --channel unix,target.type=virtio,target.name=org.example.port0" },
        { "16-location", "--name p --location /iso/netinst.iso --extra-args console=ttyS0 --disk pool=default,size=8 --os-variant debian12" },
    };

    [Theory]
    [MemberData(nameof(PrintXmlCases))]
    public void Print_xml_matches_the_expected_document(string name, string line)
    {
        var o = new InstallOptions();
        var words = line.Split(' ');
        for (var i = 0; i < words.Length; i++)
        {
            string Next() => words[++i];
            switch (words[i])
            {
                case "--name": o.Name = Next(); break;
                case "--import": o.Import = true; break;
                case "--disk": o.Disks.Add(Next()); break;
                case "--os-variant": o.OsVariant = Next(); break;
                case "--memory": o.Memory = Next(); break;
                case "--vcpus": o.Vcpus = Next(); break;
                case "--cpu": o.Cpu = Next(); break;
                case "--cdrom": o.Cdrom = Next(); break;
                case "--network": o.Networks.Add(Next()); break;
                case "--graphics": o.Graphics = Next(); break;
                case "--filesystem": o.Filesystems.Add(Next()); break;
                case "--rng": o.Rng = Next(); break;
                case "--controller": o.Controllers.Add(Next()); break;
                case "--machine": o.Machine = Next(); break;
                case "--virt-type": o.VirtType = Next(); break;
                case "--cloud-init": o.CloudInit = Next(); break;
                case "--serial": o.Serials.Add(Next()); break;
                case "--location": o.Location = Next(); break;
                case "--extra-args": o.ExtraArgs = Next(); break;
                case "--clock": o.Clock = Next(); break;
                case "--channel": o.Channels.Add(Next()); break;
                case "--boot":
                    // kernel_args runs to the next option.
                    var parts = new List<string> { Next() };
                    while (i + 1 < words.Length && !words[i + 1].StartsWith("--")) parts.Add(Next());
                    o.Boot = string.Join(' ', parts);
                    break;
                default: throw new InvalidOperationException(words[i]);
            }
        }
        var plan = InstallBuilder.Build(o, kvmUsable: false);
        if (plan.Location is not null)
        {
            // What the daemon answers for --location (where it copies the installer's kernel).
            plan.Domain.Os.Kernel = $"/var/lib/vireo/boot/{plan.Domain.Name}/vmlinuz";
            plan.Domain.Os.Initrd = $"/var/lib/vireo/boot/{plan.Domain.Name}/initrd";
        }
        var xml = DomainXml.Write(plan.Domain);
        GoldenFiles.Check($"install/{name}.xml", xml);
        DomainRules.ParseForDefine(xml); // what define takes, unchanged
    }
}
