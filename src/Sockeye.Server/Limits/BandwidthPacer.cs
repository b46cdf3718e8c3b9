namespace Sockeye.Server.Limits;

/// <summary>
/// One direction of one session's bandwidth: its own bucket, its user's bucket, or both. A grant is the smaller of the
/// two, and what one bucket granted beyond the other's grant goes straight back, so neither loses bytes it never moved.
/// </summary>
internal sealed class BandwidthPacer
{
    private readonly TokenBucket? _session;
    private readonly IByteBucket? _user;

    public BandwidthPacer(TokenBucket? session, IByteBucket? user)
    {
        _session = session;
        _user = user;
    }

    /// <summary>Grants up to <paramref name="wanted"/> bytes, or none and how long to wait before asking again.</summary>
    public int TryTake(int wanted, out TimeSpan wait)
    {
        int granted = wanted;
        if (_session is not null)
        {
            granted = _session.TryTake(wanted, out wait);
            if (granted == 0)
            {
                return 0;
            }
        }

        if (_user is not null)
        {
            int userGranted = _user.TryTake(granted, out wait);
            if (userGranted < granted)
            {
                _session?.Refund(granted - userGranted);
            }

            return userGranted;
        }

        wait = TimeSpan.Zero;
        return granted;
    }

    /// <summary>All or nothing, for a datagram of <paramref name="count"/> bytes: <see langword="false"/> means drop it.</summary>
    public bool TryTakeAll(int count)
    {
        if (_session is not null && !_session.TryTakeAll(count))
        {
            return false;
        }

        if (_user is not null && !_user.TryTakeAll(count))
        {
            _session?.Refund(count);
            return false;
        }

        return true;
    }

    /// <summary>Counts <paramref name="count"/> bytes that move without waiting (see <see cref="TokenBucket.Charge"/>).</summary>
    public void Charge(int count)
    {
        if (count > 0)
        {
            _session?.Charge(count);
            _user?.Charge(count);
        }
    }

    /// <summary>Gives back bytes granted but not moved.</summary>
    public void Refund(int count)
    {
        if (count > 0)
        {
            _session?.Refund(count);
            _user?.Refund(count);
        }
    }
}
