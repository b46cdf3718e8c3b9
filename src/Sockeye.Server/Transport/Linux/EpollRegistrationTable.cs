namespace Sockeye.Server.Transport.Linux;

/// <summary>
/// An <see cref="EpollLoop"/>'s registrations, found by the id epoll hands back with each event: the low 32 bits are a
/// slot's number (from 1: id 0 is the loop's wake-up), the high 32 bits the slot's generation, which changes each time
/// the slot is reused, so an event fetched for a registration since removed never reaches the one that took its slot.
/// </summary>
/// <remarks>
/// The loop looks up every event it handles, and a tunnel's sockets are added and removed once each. A
/// <c>ConcurrentDictionary</c> did this with a stripe lock and a node per registration, and a hash lookup per event:
/// about 800 of a tunnel's 42 000 user-space instructions (callgrind). Here a lookup reads a slot without a lock, and
/// adding or removing takes one lock, held for a few instructions, with nothing allocated but the array when it grows.
/// <para>Adding and removing may run on any thread, finding only on the loop's. A slot's target is written after its id
/// and cleared before it, and <see cref="Find"/> reads the target before the id, so a lookup that races a removal and a
/// reuse of the slot sees either the old registration whole (as a lookup just before the removal would) or nothing. A
/// registration is published before its descriptor is added to the epoll set, so every event for it finds it.</para>
/// </remarks>
internal sealed class EpollRegistrationTable
{
    private const int InitialSlots = 64;

    private readonly Lock _lock = new();
    private Slot[] _slots = new Slot[InitialSlots];

    // Slots ever handed out (the rest of the array is unused) and the head of the free slots' list, through NextFree.
    private int _used;
    private int _freeHead = -1;
    private int _count;

    private struct Slot
    {
        public IEpollEventTarget? Target;
        public ulong Id;
        public uint Generation;
        public int NextFree;
    }

    /// <summary>How many registrations there are now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>
    /// Takes a slot for a registration and returns its id. With a <paramref name="target"/> of <see langword="null"/>
    /// the slot is reserved, and <see cref="Find"/> finds nothing there until <see cref="Publish"/>.
    /// </summary>
    public ulong Add(IEpollEventTarget? target)
    {
        lock (_lock)
        {
            int index;
            if (_freeHead >= 0)
            {
                index = _freeHead;
                _freeHead = _slots[index].NextFree;
            }
            else
            {
                index = _used++;
                if (index == _slots.Length)
                {
                    var larger = new Slot[_slots.Length * 2];
                    _slots.CopyTo(larger, 0);
                    Volatile.Write(ref _slots, larger);
                }
            }

            ref Slot slot = ref _slots[index];
            uint generation = slot.Generation + 1;
            slot.Generation = generation == 0 ? 1 : generation;
            ulong id = ((ulong)slot.Generation << 32) | (uint)(index + 1);
            Volatile.Write(ref slot.Id, id);
            Volatile.Write(ref slot.Target, target);
            _count++;
            return id;
        }
    }

    /// <summary>Makes <paramref name="target"/> the registration of a slot reserved by <see cref="Add"/>.</summary>
    public void Publish(ulong id, IEpollEventTarget target)
    {
        lock (_lock)
        {
            ref Slot slot = ref _slots[SlotIndex(id)];
            if (slot.Id == id)
            {
                Volatile.Write(ref slot.Target, target);
            }
        }
    }

    /// <summary>Removes registration <paramref name="id"/>; false when it is not (or no longer) there.</summary>
    public bool Remove(ulong id) => Remove(id, out _);

    /// <summary>Removes registration <paramref name="id"/> and gives its target; false when it is not (or no longer) there.</summary>
    public bool Remove(ulong id, out IEpollEventTarget? target)
    {
        lock (_lock)
        {
            int index = SlotIndex(id);
            if ((uint)index >= (uint)_used || _slots[index].Id != id)
            {
                target = null;
                return false;
            }

            ref Slot slot = ref _slots[index];
            target = slot.Target;
            Volatile.Write(ref slot.Target, null);
            Volatile.Write(ref slot.Id, 0);
            slot.NextFree = _freeHead;
            _freeHead = index;
            _count--;
            return true;
        }
    }

    /// <summary>The registration of an event's <paramref name="id"/>, or <see langword="null"/> once it was removed.</summary>
    public IEpollEventTarget? Find(ulong id)
    {
        Slot[] slots = Volatile.Read(ref _slots);
        int index = SlotIndex(id);
        if ((uint)index >= (uint)slots.Length)
        {
            return null;
        }

        ref Slot slot = ref slots[index];
        IEpollEventTarget? target = Volatile.Read(ref slot.Target);
        return target is not null && Volatile.Read(ref slot.Id) == id ? target : null;
    }

    /// <summary>Removes every registration and returns their targets (a failed or stopping loop).</summary>
    public List<IEpollEventTarget> RemoveAll()
    {
        var targets = new List<IEpollEventTarget>();
        lock (_lock)
        {
            for (int index = 0; index < _used; index++)
            {
                ref Slot slot = ref _slots[index];
                if (slot.Id == 0)
                {
                    continue;
                }

                if (slot.Target is { } target)
                {
                    targets.Add(target);
                }

                Volatile.Write(ref slot.Target, null);
                Volatile.Write(ref slot.Id, 0);
                slot.NextFree = _freeHead;
                _freeHead = index;
            }

            _count = 0;
        }

        return targets;
    }

    private static int SlotIndex(ulong id) => (int)(uint)id - 1;
}
